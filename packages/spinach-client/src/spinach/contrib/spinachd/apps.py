"""The Django app: the engine built from the settings, tasks modules found and attached."""

import importlib
from types import ModuleType

from django.apps import AppConfig, apps
from django.utils.module_loading import module_has_submodule

from spinach.contrib.spinachd import settings as spinach_settings
from spinach.engine import Engine
from spinach.task import Tasks

#: The project's Engine, built when Django loads this app.
spin = Engine(spinach_settings.broker(), namespace=spinach_settings.namespace())


class SpinachdConfig(AppConfig):  # type: ignore[misc]  # Django ships no type hints
    name = "spinach.contrib.spinachd"
    label = "spinachd"
    verbose_name = "Django Spinach"

    def ready(self) -> None:
        from spinach.contrib.spinachd import signals

        signals.connect(spin.namespace)
        for module in autodiscover_modules("tasks"):
            module_tasks = getattr(module, "tasks", None)
            if isinstance(module_tasks, Tasks):
                spin.attach_tasks(module_tasks)


def autodiscover_modules(*names: str) -> list[ModuleType]:
    """Import the module `name` of every installed app that has one, and return them.

    An app without such a module is skipped; one whose module fails to import raises, so a
    broken tasks module is not silently ignored.
    """
    found: list[ModuleType] = []
    for app_config in apps.get_app_configs():
        for name in names:
            if module_has_submodule(app_config.module, name):
                found.append(importlib.import_module(f"{app_config.name}.{name}"))
    return found
