"""Config -> `tf.distribute` strategy, built once per run and passed explicitly."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os

import tensorflow as tf

from tasklab.core.config import StrategyConfig
from tasklab.core.errors import UserError

logger = logging.getLogger(__name__)


class StrategyError(UserError, RuntimeError):
    """The requested strategy cannot run on this machine."""


@dataclasses.dataclass(frozen=True)
class StrategyInfo:
    """The strategy a run got, for the manifest and report.

    Attributes:
        name: what was chosen: `cpu`, `gpu`, `mirrored`, `multi_worker` or
            `tpu` (`auto` resolved).
        replicas: replicas in sync; the global batch is the per-replica batch times this.
        devices: the devices the replicas run on (this worker's, for `multi_worker`).
        workers: processes training together (1 but for `multi_worker`).
        worker_index: this process's index among them; 0 is the chief.
    """

    name: str
    replicas: int
    devices: tuple[str, ...]
    workers: int = 1
    worker_index: int = 0

    @property
    def is_chief(self) -> bool:
        """Whether this process writes the run directory (the only one that does)."""
        return self.worker_index == 0

    @property
    def uses_custom_loop(self) -> bool:
        """Whether training runs tasklab's `strategy.run` loop instead of Keras `fit`.

        Keras 3's `fit` fails under MultiWorkerMirroredStrategy
        (keras-team/keras#20585), so multi-worker training has its own loop.
        """
        return self.name == "multi_worker"


def make_strategy(config: StrategyConfig) -> tuple[tf.distribute.Strategy, StrategyInfo]:
    """Builds the strategy named by the config.

    Call this before anything else touches TensorFlow's devices: splitting
    the CPU into logical devices (mirrored on a CPU-only machine) is only
    possible before TensorFlow initializes its runtime.

    Args:
        config: the strategy section of the run config.

    Returns:
        The strategy and a description of it.

    Raises:
        StrategyError: when the strategy cannot run here (no TPU, too few GPUs,
            a malformed `TF_CONFIG`).
    """
    if config.name == "cpu":
        return _one_device("cpu", "/cpu:0")
    if config.name == "mirrored":
        return _mirrored(config.devices)
    if config.name == "tpu":
        return _tpu(config.tpu or "local")
    if config.name == "multi_worker":
        return _multi_worker(config)
    return _auto(config)


def _auto(config: StrategyConfig) -> tuple[tf.distribute.Strategy, StrategyInfo]:
    """TPU if one is named or attached, else all GPUs mirrored, else the CPU."""
    if config.tpu is not None or tf.config.list_logical_devices("TPU"):
        return _tpu(config.tpu or "local")
    gpus = tf.config.list_physical_devices("GPU")
    if config.devices is not None or len(gpus) > 1:
        return _mirrored(config.devices)
    if gpus:
        return _one_device("gpu", "/gpu:0")
    return _one_device("cpu", "/cpu:0")


def _describe(
    name: str, strategy: tf.distribute.Strategy
) -> tuple[tf.distribute.Strategy, StrategyInfo]:
    return strategy, StrategyInfo(name, strategy.num_replicas_in_sync, replica_devices(strategy))


def _one_device(name: str, device: str) -> tuple[tf.distribute.Strategy, StrategyInfo]:
    """One replica on `device`.

    Where TensorFlow places everything on that device by itself (the CPU of
    a machine without GPUs, the GPU of a one-GPU machine) this is the default
    strategy: `OneDeviceStrategy` wraps every step and distributes the input
    for nothing, which cost ~40% of a small CNN's training throughput on CPU
    (measured on digits before the change).
    """
    gpus = tf.config.list_physical_devices("GPU")
    if (name == "cpu" and not gpus) or (name == "gpu" and len(gpus) == 1):
        return _describe(name, tf.distribute.get_strategy())
    return _describe(name, tf.distribute.OneDeviceStrategy(device))


def replica_devices(strategy: tf.distribute.Strategy) -> tuple[str, ...]:
    """The devices a strategy's replicas run on.

    The default strategy has no device list: it runs where TensorFlow places
    ops, on the first GPU if there is one, else on the CPU.
    """
    try:
        return tuple(strategy.extended.worker_devices)
    except RuntimeError:  # "worker_devices() method unsupported by default tf.distribute.Strategy"
        kind = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
        return (tf.config.list_logical_devices(kind)[0].name,)


def _mirrored(devices: int | None) -> tuple[tf.distribute.Strategy, StrategyInfo]:
    """Mirrors over the first `devices` GPUs, or over logical CPU devices when there is no GPU."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        count = devices or len(gpus)
        if count > len(gpus):
            raise StrategyError(
                f"strategy.devices={count} but this machine has {len(gpus)} GPU(s). "
                f"Set strategy.devices to at most {len(gpus)}."
            )
        strategy = tf.distribute.MirroredStrategy([f"/gpu:{i}" for i in range(count)])
    else:
        # NCCL all-reduce needs GPUs; on CPU devices reduce through one device.
        strategy = tf.distribute.MirroredStrategy(
            [d.name for d in split_cpu(devices or 1)],
            cross_device_ops=tf.distribute.ReductionToOneDevice(),
        )
    return _describe("mirrored", strategy)


def _multi_worker(config: StrategyConfig) -> tuple[tf.distribute.Strategy, StrategyInfo]:
    """Joins the cluster of `TF_CONFIG` (or `strategy.cluster`): a MultiWorkerMirroredStrategy.

    The constructor blocks until every worker has joined.
    """
    resolver = cluster_resolver(config, os.environ.get("TF_CONFIG"))
    jobs = resolver.cluster_spec().as_dict()
    workers = sum(len(addresses) for addresses in jobs.values()) or 1
    if resolver.task_type in (None, "chief"):
        index = 0
    else:
        # The chief (if the cluster names one) comes first, then the workers in order.
        index = len(jobs.get("chief", [])) + (resolver.task_id or 0)
    if workers > 1:
        logger.info("Joining a cluster of %d workers as worker %d; waiting for all", workers, index)
    strategy = tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)
    _, info = _describe("multi_worker", strategy)
    return strategy, dataclasses.replace(info, workers=workers, worker_index=index)


def cluster_resolver(
    config: StrategyConfig, tf_config: str | None
) -> tf.distribute.cluster_resolver.ClusterResolver:
    """The cluster a multi-worker run joins.

    Args:
        config: the strategy section (`cluster` and `task_index`, if set).
        tf_config: the `TF_CONFIG` environment variable's value, or None.

    Returns:
        A resolver for `strategy.cluster`, else for `TF_CONFIG`; with neither, a
        cluster of this one process.

    Raises:
        StrategyError: when both are set, or `TF_CONFIG` is malformed.
    """
    if config.cluster is not None:
        if tf_config:
            raise StrategyError(
                "Both TF_CONFIG and strategy.cluster describe the cluster. Unset TF_CONFIG, "
                "or remove strategy.cluster and strategy.task_index from the config."
            )
        spec = tf.train.ClusterSpec({"worker": list(config.cluster)})
        return tf.distribute.cluster_resolver.SimpleClusterResolver(
            spec, task_type="worker", task_id=config.task_index, rpc_layer="grpc"
        )
    if not tf_config:
        logger.info("multi_worker without TF_CONFIG or strategy.cluster: one local worker")
        return tf.distribute.cluster_resolver.SimpleClusterResolver(tf.train.ClusterSpec({}))
    try:
        parsed = json.loads(tf_config)
        task = parsed["task"]
        cluster = parsed["cluster"]
        if task["type"] not in cluster or not 0 <= int(task["index"]) < len(cluster[task["type"]]):
            raise ValueError(f"task {task} is not in the cluster {cluster}")
    except (ValueError, KeyError, TypeError) as error:
        raise StrategyError(
            f"TF_CONFIG is malformed ({type(error).__name__}: {error}). It must be JSON like "
            '{"cluster": {"worker": ["host1:port", "host2:port"]}, '
            '"task": {"type": "worker", "index": 0}}, with a different index on each worker.'
        ) from None
    return tf.distribute.cluster_resolver.TFConfigClusterResolver()


def split_cpu(count: int) -> list[tf.config.LogicalDevice]:
    """Splits the CPU into `count` logical devices (once per process) and returns them.

    Args:
        count: the number of logical CPU devices wanted.

    Returns:
        The first `count` logical CPU devices.

    Raises:
        StrategyError: when TensorFlow already initialized fewer devices.
    """
    cpu = tf.config.list_physical_devices("CPU")[0]
    # RuntimeError: TensorFlow is already initialized. That is fine if it already
    # has enough logical devices, which is checked below.
    with contextlib.suppress(RuntimeError):
        if count > 1:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
            )
    logical = tf.config.list_logical_devices("CPU")
    if len(logical) < count:
        raise StrategyError(
            f"Cannot split the CPU into {count} logical devices: TensorFlow was already "
            f"initialized with {len(logical)}. Build the strategy before any other TensorFlow "
            "work, in a fresh process (the `tasklab` CLI does)."
        )
    return logical[:count]


def _tpu(address: str) -> tuple[tf.distribute.Strategy, StrategyInfo]:
    """Connects to a TPU (`local`: attached to this host) and returns a TPUStrategy."""
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.NotFoundError, tf.errors.InvalidArgumentError) as error:
        raise StrategyError(
            f"No TPU was found at '{address}' "
            f"({type(error).__name__}: {str(error).splitlines()[0]}). "
            "On a TPU VM use strategy.tpu: local; for a TPU node set strategy.tpu to its name or "
            "grpc:// address; without a TPU use strategy.name: auto or cpu."
        ) from None
    return _describe("tpu", tf.distribute.TPUStrategy(resolver))
