"""Sign in, sign out and the password reset: Django's own auth views on portal templates.

Reset e-mails go out through EMAIL_BACKEND (the console locally, the locmem outbox in
tests); the answer is the same whether or not the address belongs to a login, so the form
does not tell who has an account.
"""

from django.contrib.auth import views as auth_views
from django.urls import reverse_lazy


class PortalLoginView(auth_views.LoginView):
    template_name = "portal/registration/login.html"
    redirect_authenticated_user = True


class PortalLogoutView(auth_views.LogoutView):
    # Django 5 signs out on POST only (the base template's button), never on a GET a page
    # could trigger from an <img>.
    next_page = reverse_lazy("portal:login")


class PortalPasswordResetView(auth_views.PasswordResetView):
    template_name = "portal/registration/password_reset_form.html"
    email_template_name = "portal/registration/password_reset_email.txt"
    subject_template_name = "portal/registration/password_reset_subject.txt"
    success_url = reverse_lazy("portal:password_reset_done")


class PortalPasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "portal/registration/password_reset_done.html"


class PortalPasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "portal/registration/password_reset_confirm.html"
    success_url = reverse_lazy("portal:password_reset_complete")


class PortalPasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "portal/registration/password_reset_complete.html"
