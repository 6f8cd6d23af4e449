"""A plain Keras training script, written the way the Keras examples write one: the yardstick
that `bench/overhead.py` holds tasklab against.

    python bench/plain_keras.py --data digits --epochs 10
    python bench/plain_keras.py --data folder:PATH --epochs 3

It trains the small CNN that tasklab's `small_cnn` builds (written out here by
hand; the benchmark checks the parameter counts match) with the same batch
size, optimizer, augmentation and split fractions (65% train, 15% validation),
with `model.fit` on a `tf.data` pipeline and nothing else: no checkpoints, no
backups, no logs. Prints one JSON line: examples per second of `model.fit`
and what it trained.

Deliberately free of tasklab imports, as a user's own script would be.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf
from keras import layers
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

VAL_FRACTION, TEST_FRACTION = 0.15, 0.2


def digits_datasets(seed: int):
    """scikit-learn's digits as uint8 8x8 images, split 65/15/20 by class."""
    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype("uint8")[..., np.newaxis]
    x_train, x_rest, y_train, y_rest = train_test_split(
        images,
        digits.target,
        test_size=VAL_FRACTION + TEST_FRACTION,
        stratify=digits.target,
        random_state=seed,
    )
    x_val, _, y_val, _ = train_test_split(
        x_rest,
        y_rest,
        test_size=TEST_FRACTION / (VAL_FRACTION + TEST_FRACTION),
        stratify=y_rest,
        random_state=seed,
    )
    train = tf.data.Dataset.from_tensor_slices((x_train, y_train))
    train = train.shuffle(len(x_train), seed=seed).map(to_float)
    val = tf.data.Dataset.from_tensor_slices((x_val, y_val)).map(to_float)
    return train, val, len(x_train), images.shape[1:], 10


def to_float(image, label):
    return tf.cast(image, tf.float32), label


def folder_datasets(path: str, seed: int):
    """A folder of class sub-folders of images, read by `image_dataset_from_directory`."""
    with Image.open(next(Path(path).glob("*/*.png"))) as first:
        channels = 1 if first.mode == "L" else 3
        height, width = first.height, first.width
    train, rest = keras.utils.image_dataset_from_directory(
        path,
        validation_split=VAL_FRACTION + TEST_FRACTION,
        subset="both",
        seed=seed,
        image_size=(height, width),
        color_mode="grayscale" if channels == 1 else "rgb",
        batch_size=None,
    )
    # 15 of the 35% held out validate, the rest is the (unused) test share, as in tasklab.
    held_out = int(rest.cardinality())
    val = rest.take(round(held_out * VAL_FRACTION / (VAL_FRACTION + TEST_FRACTION)))
    classes = len(train.class_names)
    return train, val, int(train.cardinality()), (height, width, channels), classes


def make_model(input_shape, num_classes: int, filters: int = 32, dropout: float = 0.2):
    """A VGG-style CNN: blocks of two 3x3 conv + batch norm + ReLU, then max-pool."""
    inputs = keras.Input(shape=input_shape)
    x = layers.Rescaling(1.0 / 255)(inputs)
    blocks = min(4, max(2, int(math.log2(min(input_shape[:2]))) - 1))
    for block in range(blocks):
        for _ in range(2):
            x = layers.Conv2D(filters * 2**block, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization(momentum=0.9)(x)
            x = layers.ReLU()(x)
        x = layers.MaxPooling2D()(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits", help="digits, or folder:PATH")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=0.003)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    keras.utils.set_random_seed(args.seed)

    if args.data == "digits":
        train, val, train_size, shape, classes = digits_datasets(args.seed)
    else:
        train, val, train_size, shape, classes = folder_datasets(
            args.data.removeprefix("folder:"), args.seed
        )
    augmentation = keras.Sequential(
        [
            layers.RandomTranslation(0.1, 0.1, fill_mode="constant"),
            layers.RandomRotation(0.05, fill_mode="constant"),
            layers.RandomZoom(0.1, fill_mode="constant"),
        ]
    )
    train = train.batch(args.batch_size).map(
        lambda x, y: (augmentation(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE
    )
    train = train.prefetch(tf.data.AUTOTUNE)
    val = val.batch(args.batch_size).prefetch(tf.data.AUTOTUNE)

    model = make_model(shape, classes)
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=args.learning_rate, weight_decay=1e-4),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    started = time.perf_counter()
    history = model.fit(train, validation_data=val, epochs=args.epochs, verbose=2)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "examples_per_second": train_size * args.epochs / seconds,
                "train_seconds": seconds,
                "train_examples": train_size,
                "epochs": args.epochs,
                "parameters": model.count_params(),
                "val_accuracy": history.history["val_accuracy"][-1],
            }
        )
    )


if __name__ == "__main__":
    main()
