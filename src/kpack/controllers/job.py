"""Job controller (completions, parallelism, backoffLimit, activeDeadlineSeconds) and CronJob controller
(cron schedule in logical time via croniter, concurrencyPolicy, history limits)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import numpy as np

from .objects import CronJobObj, JobObj, job_from_template

if TYPE_CHECKING:
    from .plane import ControlPlane

BACKOFF_BASE_SECONDS = 10  # upstream: failed pods are replaced after 10 s, 20 s, 40 s ... capped at 6 min
BACKOFF_MAX_SECONDS = 360


def sync_job(cp: "ControlPlane", job: JobObj, rows: np.ndarray) -> np.ndarray:
    """Create pods up to parallelism (and the completions still missing); finish the Job. Active rows."""
    spec = job.spec
    if job.condition is not None or spec.suspend:
        if len(rows) and spec.suspend:
            cp.delete_pods(rows)
            return rows[:0]
        return rows
    if job.start is None:
        job.start = cp.steps
    if job.failed > spec.backoff_limit:
        return _finish(
            cp, job, rows, "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"
        )
    if (
        spec.active_deadline_seconds is not None
        and (cp.steps - job.start) * cp.step_seconds >= spec.active_deadline_seconds
    ):
        return _finish(
            cp, job, rows, "Failed", "DeadlineExceeded", "Job was active longer than specified deadline"
        )
    completions = spec.completions
    if completions is not None and job.succeeded >= completions:
        return _finish(cp, job, rows, "Complete", "", "")
    if completions is None and job.succeeded > 0 and not len(rows):
        return _finish(cp, job, rows, "Complete", "", "")
    want = spec.parallelism if completions is None else min(spec.parallelism, completions - job.succeeded)
    if completions is None and job.succeeded > 0:
        want = 0  # work queue: once one pod succeeded, no new pods
    diff = want - len(rows)
    if diff > 0 and cp.steps >= job.backoff_until:
        ords = np.arange(job.next_ordinal, job.next_ordinal + diff, dtype=np.int64)
        job.next_ordinal += diff
        rows = np.concatenate([rows, cp.store.add(job.spec_id, ords, job.ctl, job.ctl, -1, cp.steps)])
        cp.record(job.key, "SuccessfulCreate", f"Created {diff} pod(s)")
    elif diff < 0:
        victims = rows[np.argsort(-cp.store.created[rows], kind="stable")][:-diff]
        cp.delete_pods(victims)
        rows = np.setdiff1d(rows, victims)
    return rows


def _finish(
    cp: "ControlPlane", job: JobObj, rows: np.ndarray, cond: str, reason: str, msg: str
) -> np.ndarray:
    if len(rows):
        cp.delete_pods(rows)
    job.condition, job.reason, job.completion = cond, reason, cp.steps
    cp.record(job.key, "Completed" if cond == "Complete" else reason, msg or "Job completed")
    return rows[:0]


def pod_ended(cp: "ControlPlane", job: JobObj, failed: int, succeeded: int) -> None:
    job.succeeded += succeeded
    job.failed += failed
    if failed:
        delay = min(BACKOFF_BASE_SECONDS * 2 ** (job.failed - 1), BACKOFF_MAX_SECONDS)
        job.backoff_until = cp.steps + int(np.ceil(delay / cp.step_seconds))


def job_status(cp: "ControlPlane", job: JobObj) -> dict:
    rows = cp.ctl_rows(job.ctl)
    conds = [] if job.condition is None else [{"type": job.condition, "status": "True", "reason": job.reason}]
    return {
        "active": int(len(rows)),
        "ready": int(cp.ready[rows].sum()),
        "succeeded": job.succeeded,
        "failed": job.failed,
        "startTime": None if job.start is None else job.start * cp.step_seconds,
        "completionTime": None
        if job.completion is None or job.condition != "Complete"
        else job.completion * cp.step_seconds,
        "conditions": conds,
    }


# --- CronJob ------------------------------------------------------------------------------------------------
def wall_clock(cp: "ControlPlane", seconds: float) -> datetime:
    return cp.start_time + timedelta(seconds=seconds)


def most_recent_schedule(cp: "ControlPlane", cj: CronJobObj) -> float | None:
    """The latest schedule time in (last schedule or creation, now], in logical seconds, or None."""
    from croniter import croniter

    tz = timezone.utc
    if cj.spec.time_zone:
        from zoneinfo import ZoneInfo

        tz = ZoneInfo(cj.spec.time_zone)
    now = wall_clock(cp, cp.time).astimezone(tz)
    prev = croniter(cj.spec.schedule, now + timedelta(microseconds=1)).get_prev(datetime)
    t = (prev - cp.start_time).total_seconds()
    since = cj.last_schedule if cj.last_schedule is not None else cj.created
    return t if t > since else None


def sync_cronjob(cp: "ControlPlane", cj: CronJobObj) -> None:
    spec = cj.spec
    owned = cp.cron_jobs(cj.key)
    active = [j for j in owned if j.condition is None]
    cleanup(cp, cj, owned)
    if spec.suspend:
        return
    t = most_recent_schedule(cp, cj)
    if t is None:
        return
    if spec.starting_deadline_seconds is not None and cp.time - t > spec.starting_deadline_seconds:
        cp.record(
            cj.key, "MissSchedule", f"Missed scheduled time to start a job: {wall_clock(cp, t).isoformat()}"
        )
        cj.last_schedule = t
        return
    if active and spec.concurrency_policy == "Forbid":
        return  # as upstream: retried until the running job ends (lastScheduleTime is not advanced)
    if active and spec.concurrency_policy == "Replace":
        for j in active:
            cp.delete_job(j)
            cp.record(cj.key, "SuccessfulDelete", f"Deleted job {j.name}")
    name = f"{spec.name}-{int(wall_clock(cp, t).timestamp() // 60)}"
    job = job_from_template(spec, name)
    cp.create_job(job, owner=cj.key, scheduled_time=t)
    cj.last_schedule = t
    cp.record(cj.key, "SuccessfulCreate", f"Created job {name}")


def cleanup(cp: "ControlPlane", cj: CronJobObj, owned: list[JobObj]) -> None:
    for cond, limit in (
        ("Complete", cj.spec.successful_jobs_history_limit),
        ("Failed", cj.spec.failed_jobs_history_limit),
    ):
        done = sorted(
            (j for j in owned if j.condition == cond), key=lambda j: (j.scheduled_time or 0, j.created)
        )
        for j in done[: max(0, len(done) - limit)]:
            cp.delete_job(j)
            cp.record(cj.key, "SuccessfulDelete", f"Deleted job {j.name}")
