from django.contrib import admin

from wallets.models import Customer


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["external_id", "name", "book", "plan", "billing", "currency", "created_at"]
    list_filter = ["book", "billing", "plan"]
    search_fields = ["external_id", "name"]
