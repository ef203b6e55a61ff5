"""Re-execution for the watch stages: a request's output computed again by this node (a watchtower checking another
node's result, a committee member voting on a dispute), on lanes of their own so that serving never waits for it.
The models are the node's catalog (the same sandboxed workers; a worker serves one call at a time)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

from verinfer.errors import ModelError
from verinfer.inference.sandbox import CancelledError
from verinfer.node.compute import ModelLanes
from verinfer.node.journal import Job
from verinfer.node.ports import Catalog
from verinfer.node.request import params_of


class Reexecution:
    """`outputs(jobs)`: what is ready of the outputs asked for (started on the model's watch lane if idle); ask
    again on a later tick for the rest."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.lanes = ModelLanes()
        self._ready: dict[int, bytes | ModelError] = {}

    def outputs(self, jobs: Sequence[Job]) -> dict[int, bytes | ModelError]:
        """The outputs (or the model's error) of those of `jobs` that are computed; starts the others."""
        for _model_id, group, future in self.lanes.finished():
            error = future.exception()
            if isinstance(error, CancelledError):
                continue
            if isinstance(error, ModelError):
                self._ready.update((job.request_id, error) for job in group)
            elif error is None:
                self._ready.update(zip((job.request_id for job in group), future.result(), strict=True))
            # any other error (an RPC failure reading the model's spec): asked again on a later tick
        wanted = {job.request_id for job in jobs}
        running = self.lanes.request_ids
        by_model: dict[bytes, list[Job]] = defaultdict(list)
        for job in jobs:
            if job.request_id not in self._ready and job.request_id not in running:
                by_model[params_of(job).model_id].append(job)
        for model_id, group in by_model.items():
            if not self.lanes.busy(model_id):
                self.lanes.start(model_id, group, self._work(model_id, [job.input for job in group]))
        return {rid: self._ready.pop(rid) for rid in list(self._ready) if rid in wanted}

    def _work(self, model_id: bytes, inputs: list[bytes]) -> Callable[[], list[bytes | ModelError]]:
        catalog = self.catalog
        return lambda: catalog.get(model_id).compute(inputs)

    def close(self) -> None:
        self.lanes.close()
