"""Config -> `tf.distribute` strategy, built once per run and passed explicitly."""

from __future__ import annotations

import contextlib
import dataclasses
import logging

import tensorflow as tf

from pipelines.config import StrategyConfig

logger = logging.getLogger(__name__)


class StrategyError(RuntimeError):
    """The requested strategy cannot run on this machine."""


@dataclasses.dataclass(frozen=True)
class StrategyInfo:
    """The strategy a run got, for the manifest and report.

    Attributes:
        name: what was chosen: `cpu`, `gpu`, `mirrored` or `tpu` (`auto` resolved).
        replicas: replicas in sync; the global batch is the per-replica batch times this.
        devices: the devices the replicas run on.
    """

    name: str
    replicas: int
    devices: tuple[str, ...]


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
            multi-worker not available yet).
    """
    if config.name == "cpu":
        return _one_device("cpu", "/cpu:0")
    if config.name == "mirrored":
        return _mirrored(config.devices)
    if config.name == "tpu":
        return _tpu(config.tpu or "local")
    if config.name == "multi_worker":
        raise StrategyError(
            "The 'multi_worker' strategy is not available yet: Keras 3's fit fails under "
            "MultiWorkerMirroredStrategy (keras-team/keras#20585) and tasklab's own multi-worker "
            "loop is not built yet. Use strategy.name: mirrored to train on several devices."
        )
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
    devices = tuple(strategy.extended.worker_devices)
    return strategy, StrategyInfo(name, strategy.num_replicas_in_sync, devices)


def _one_device(name: str, device: str) -> tuple[tf.distribute.Strategy, StrategyInfo]:
    return _describe(name, tf.distribute.OneDeviceStrategy(device))


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
