"""Every private TensorFlow / Keras API the project touches, in one place, each with its reason.

Nothing else imports a private module or reads a private attribute. ``tests/test_private_apis.py``
checks each entry of :data:`PRIVATE_APIS` against the installed versions, so an upgrade that
removes one fails there, loudly and by name, instead of deep inside training or an export.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PrivateAPI:
    name: str
    reason: str
    public_replacement: str


PRIVATE_APIS = (
    PrivateAPI(
        "tensorflow.compiler.tf2xla.python.xla.dynamic_update_slice",
        "The stacked RNN loop of the TFLite export writes each block of outputs into a "
        "fixed-shape buffer; this op converts to TFLite's builtin DYNAMIC_UPDATE_SLICE, so every "
        "tensor in the loop body keeps a static shape and TFLite's WHILE takes its static path "
        "(a TensorArray makes it resize and copy every loop variable per iteration).",
        "none: tf.raw_ops has no XlaDynamicUpdateSlice; tf.tensor_scatter_nd_update converts to "
        "SCATTER_ND plus extra ops, not one DYNAMIC_UPDATE_SLICE"),
    PrivateAPI(
        "keras.optimizers.Optimizer._trainable_variables / _model_variables_moving_average",
        "`ds2 train --ema` puts the averaged weights in the model at each epoch end and the raw "
        "ones back after; Keras keeps the averages in these two aligned lists.",
        "keras.callbacks.SwapEMAWeights swaps the two sets, but a run stopped by its time budget "
        "then ends on the raw weights (see AveragedWeightsAtEpochEnd)"),
    PrivateAPI(
        "keras.Model._distribute_strategy",
        "keras-team/keras#20329: before fit, Keras 3 'symbolically builds' a model made under a "
        "strategy with strategy.reduce over the whole nested input batch, which "
        "MultiWorkerMirroredStrategy rejects for dict inputs. Our model and optimizer are built "
        "before fit, so clearing the attribute makes fit use the ambient strategy scope.",
        "none until that issue is fixed"),
)


def xla_dynamic_update_slice(buffer, update, offsets):
    """``buffer`` with ``update`` written at ``offsets`` (see PRIVATE_APIS[0])."""
    from tensorflow.compiler.tf2xla.python import xla

    return xla.dynamic_update_slice(buffer, update, offsets)


def ema_variable_pairs(optimizer) -> list:
    """(trainable variable, its moving average) pairs of an optimizer built with ``use_ema``
    (see PRIVATE_APIS[1]); a LossScaleOptimizer's inner optimizer holds them."""
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)
    return list(zip(optimizer._trainable_variables, optimizer._model_variables_moving_average))


def fit_under_ambient_strategy(model) -> None:
    """Let ``model.fit`` use the strategy scope it is called in (see PRIVATE_APIS[2])."""
    model._distribute_strategy = None
