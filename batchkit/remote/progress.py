"""Progress callbacks for Python users: bars from `tqdm.auto`, which draws a widget in a notebook and text
in a terminal. The library reports progress only through callbacks; these are ready-made ones
(`batchkit.submit(..., progress=True)` and `batchkit.run(..., progress=True)` use them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .records import Event


def tqdm_progress(**options: Any) -> Callable[[Event], None]:
    """A callback for `remote.Event`s: one bar per upload, download and batch (requests done of total),
    made on the first event for it; notes are written above the bars. `options` go to every `tqdm`."""
    from tqdm.auto import tqdm

    bars: dict[tuple[str, str], Any] = {}

    def show(event: Event) -> None:
        if event.kind == "note":
            tqdm.write(f"{event.subject}: {event.message}")
            return
        key = (event.kind, event.subject)
        bar = bars.get(key)
        if bar is None:
            unit = dict(unit="B", unit_scale=True) if event.kind in ("upload", "download") else {}
            bar = bars[key] = tqdm(desc=f"{event.kind} {event.subject}", total=event.total, **unit, **options)
        if event.total is not None and bar.total != event.total:
            bar.total = event.total
        bar.n = event.done
        if event.batch is not None:
            bar.set_postfix_str(event.batch.status, refresh=False)
        bar.refresh()
        if event.batch is not None and event.batch.terminal or (event.total and event.done >= event.total):
            bar.close()
            del bars[key]

    return show
