"""For migrations that move a model to another app.

The table keeps its data (SeparateDatabaseAndState: a state-only DeleteModel in the old
app, a state-only CreateModel on the old table in the new app, then AlterModelTable).
The model's content type moves with it, so the permissions granted on it (its codenames
do not change) and the admin's log entries follow it instead of pointing at a model
that no longer exists.
"""

from django.db import migrations


def content_type_move(*, model: str, from_app: str, to_app: str) -> migrations.RunPython:
    """A RunPython that relabels the content type of `model` (lower case), and back."""

    def relabel(apps, old: str, new: str) -> None:
        content_types = apps.get_model("contenttypes", "ContentType").objects
        # On a fresh database the content types are made after all migrations: nothing
        # to move. If both exist, permissions were already made for the new one.
        if not content_types.filter(app_label=new, model=model).exists():
            content_types.filter(app_label=old, model=model).update(app_label=new)

    return migrations.RunPython(
        lambda apps, schema_editor: relabel(apps, from_app, to_app),
        lambda apps, schema_editor: relabel(apps, to_app, from_app),
    )
