"""Only the admin: the pricing admin tests need no other app's URLs."""

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
