"""Every module that registers job handlers, imported at module level by the entry point that runs jobs
(`jobs/sweepers.build_worker`, behind `roamcard worker` and the in-process worker of `roamcard serve`).

The direction is one way: this list imports the tasks modules, each tasks module fills the registry (a
plain dict in jobs/registry.py) through `@job`/`@external_job`, and the registry imports nothing. A new
tasks module is added here.
"""

from __future__ import annotations

from types import ModuleType

from roamcard.notification import tasks as notification_tasks
from roamcard.partner import tasks as partner_tasks
from roamcard.payment import tasks as payment_tasks
from roamcard.refund import tasks as refund_tasks
from roamcard.sandbox import tasks as sandbox_tasks
from roamcard.topup import tasks as topup_tasks

TASK_MODULES: tuple[ModuleType, ...] = (
    notification_tasks,
    partner_tasks,
    payment_tasks,
    refund_tasks,
    sandbox_tasks,
    topup_tasks,
)
