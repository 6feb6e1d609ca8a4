"""Schema operations for migrations that must run on a live, large catalogue.

``AddIndex``/``RemoveIndex`` take a lock that blocks writes to the table for as long as
the index builds (tens of seconds at a million rows). On PostgreSQL these build and drop
``CONCURRENTLY`` instead, so the API keeps writing; elsewhere (SQLite) they are the plain
operations. ``CONCURRENTLY`` cannot run in a transaction: use them in a migration with
``atomic = False``. (Django's ``AddIndexConcurrently`` is PostgreSQL-only and fails on SQLite.)
"""

from __future__ import annotations

from django.db.migrations.operations import AddIndex, RemoveIndex


def _concurrently(schema_editor) -> dict:
    return {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}


class AddIndexConcurrentlyWherePossible(AddIndex):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index, **_concurrently(schema_editor))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index, **_concurrently(schema_editor))


class RemoveIndexConcurrentlyWherePossible(RemoveIndex):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            index = from_state.models[app_label, self.model_name_lower].get_index_by_name(self.name)
            schema_editor.remove_index(model, index, **_concurrently(schema_editor))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            index = to_state.models[app_label, self.model_name_lower].get_index_by_name(self.name)
            schema_editor.add_index(model, index, **_concurrently(schema_editor))
