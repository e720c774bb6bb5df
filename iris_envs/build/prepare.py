"""Build phase two: users, the environment's namespace, then the setup steps in order."""

from __future__ import annotations

from typing import Any

from iris_envs.build.final_check import check_setup, has_checks
from iris_envs.build.setup_steps import STEP_TIMEOUT, run_step, step_where
from iris_envs.build.state import BuildState
from iris_envs.config.databases import BUILTIN_NAMESPACES
from iris_envs.errors import BuildFailed
from iris_envs.instance.recipes import ENV_NAMESPACE, create_namespace, prepare_users
from iris_envs.progress import human_bytes


class PreparePhase(BuildState):
    """Phase two: users, the namespace and the setup steps, in order."""

    def _prepare_and_setup(self, container_id: str, inputs: dict[str, Any]) -> None:
        """Users, namespace, then the user's steps in order (counting fixture bytes copied).

        Each step's files are checked against the hashes in the key's ``inputs`` as they are
        copied: a file edited during the build fails it instead of being committed under a key
        that describes its old content.
        """
        spec = self.spec
        with self.reporter.step("prepare users"):
            self._session(container_id, prepare_users(), "prepare users")
        if spec.namespace.upper() not in BUILTIN_NAMESPACES:
            what = f"create namespace {spec.namespace}"
            with self.reporter.step(what):
                self._session(
                    container_id, create_namespace(), what, extra={ENV_NAMESPACE: spec.namespace}
                )
        for step, step_inputs in zip(spec.setup, inputs["setup"], strict=True):
            with self.reporter.step(step.describe()) as handle:
                self.log.write(f"--- {step.describe()}\n")
                try:
                    outcome = run_step(
                        self.engine,
                        container_id,
                        spec,
                        step,
                        on_progress=handle.update,
                        expected=step_inputs.get("content"),
                        dat_copied=self.dat_copies.get(step.index),
                    )
                except BuildFailed as failure:  # pointing at the line that declares the step
                    failure.where = failure.where or step_where(spec, step)
                    raise
                self.log.write(outcome.output + "\n")
                self.fixture_bytes += outcome.bytes_copied
                if outcome.bytes_copied:
                    handle.detail = human_bytes(outcome.bytes_copied)
        if has_checks(spec):
            # Once every step has run: a later step can hide what an earlier one made visible.
            with self.reporter.step("check fixtures and loaded classes"):
                self.log.write("--- check fixtures and loaded classes\n")
                self.log.write(
                    check_setup(self.engine, container_id, spec, timeout=STEP_TIMEOUT) + "\n"
                )
