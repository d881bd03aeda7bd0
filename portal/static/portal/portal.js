// The portal works without JavaScript; this only saves a click or two.
document.addEventListener("DOMContentLoaded", () => {
  document.documentElement.classList.add("js");
  // The language switcher submits itself when a language is picked.
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }
  // "Copy" buttons next to a secret shown once.
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", () => {
      const target = document.getElementById(button.dataset.copy);
      if (target && navigator.clipboard) navigator.clipboard.writeText(target.textContent.trim());
    });
  }
});
