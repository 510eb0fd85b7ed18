"""The DS2 network as a plain Keras user would build it: the speed baseline for train_throughput.

Same spectrogram, conv front-end, output layer, loss and batches as ``DeepSpeech2``; the conv
layers run as stock ``Conv2D`` (``conv_algorithm="direct"``, not our FFT path) and the RNN stack
is stock ``Bidirectional(GRU|LSTM, merge_mode="sum")`` followed by ``BatchNormalization``, both
given the padding mask. Float32.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from ds2_tf.model.masked import time_mask
from ds2_tf.model.deepspeech2 import DeepSpeech2


class StockDeepSpeech2(DeepSpeech2):
    def __init__(self, config: dict, num_classes: int, **kwargs):
        config = {**config, "model": {**config["model"], "conv_algorithm": "direct"}}
        super().__init__(config, num_classes, **kwargs)
        model = self.run_config.model
        rnn = keras.layers.GRU if model.rnn_type == "gru" else keras.layers.LSTM
        self.rnns = []
        self.stock_rnns = [keras.layers.Bidirectional(rnn(model.rnn_units, return_sequences=True),
                                                      merge_mode="sum", name=f"birnn{i}")
                           for i in range(model.rnn_layers)]
        self.stock_norms = [keras.layers.BatchNormalization(name=f"bn{i}")
                            for i in range(model.rnn_layers)]

    def call(self, inputs, training=False):
        features, frames = self.spectrogram(inputs["waveform"], inputs["num_samples"])
        x, lengths = self.frontend(features, frames, training=training)
        mask = tf.cast(time_mask(lengths, tf.shape(x)[1]), tf.bool)
        for rnn, norm in zip(self.stock_rnns, self.stock_norms):
            x = norm(rnn(x, mask=mask, training=training), mask=mask, training=training)
        return {"logits": self.classifier(x), "output_length": lengths}
