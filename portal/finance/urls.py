"""The finance dashboard's pages, under /portal/finance/ (portal/urls.py includes them)."""

from django.urls import path

from portal.finance import views

app_name = "finance"

urlpatterns = [
    path("", views.finance_dashboard, name="dashboard"),
    path("margin.csv", views.margin_csv, name="margin_csv"),
]
