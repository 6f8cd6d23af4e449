"""Choosing which layers of an int8 model stay in float."""

from __future__ import annotations

from tasklab.export.triage import LayerError, float_front, front_end, produced_by, worst_layers

FRONT = ("mel_spectrogram", "log_mel")


def test_produced_by_reads_scopes_with_tensorflow_suffixes_and_fused_names():
    assert produced_by("ds_cnn_1/mel_spectrogram_1/Pow;", FRONT)
    assert produced_by("ds_cnn_1/log_mel_1/add1", FRONT)
    assert produced_by("a/conv2d_1/Relu;ds_cnn_1/mel_spectrogram_1/stft/rfft3", FRONT)
    assert not produced_by("ds_cnn_1/classifier_1/conv2d_1/convolution", FRONT)
    assert not produced_by("log_mel", FRONT)  # An op named like the layer, outside its scope.
    assert not produced_by("ds_cnn_1/log_mel_table_1/add", FRONT)


def test_front_end_keeps_every_front_end_op_in_order():
    tensors = [
        "m_1/mel_spectrogram_1/MirrorPad",
        "m_1/mel_spectrogram_1/Square",
        "m_1/log_mel_1/ExpandDims",
        "m_1/classifier_1/conv2d_1/Relu",
        "StatefulPartitionedCall_1:0",
    ]
    assert front_end(tensors, FRONT) == tensors[:3]


def test_worst_and_front_retries_choose_from_the_ranking():
    ranked = [
        LayerError("CONV_2D", "c", 3.0, position=2),
        LayerError("ADD", "a", 2.0, position=0),
        LayerError("MUL", "b", 1.0, position=1),
        LayerError("FC", "d", 0.5, position=3),
    ]
    assert [layer.tensor for layer in worst_layers(ranked, 2)] == ["c", "a"]
    assert [layer.tensor for layer in float_front(ranked)] == ["a", "b", "c"]
