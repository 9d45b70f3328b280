"""Model builders: the melanoma classifier and the MobileNetV2 U-Net segmenter."""

from __future__ import annotations

import keras
from keras import layers

#: Encoder features used as U-Net skips, from fine (1/2) to coarse (1/16).
UNET_SKIPS = (
    "block_1_expand_relu",
    "block_3_expand_relu",
    "block_6_expand_relu",
    "block_13_expand_relu",
)
#: The deepest encoder feature (1/32).
UNET_BOTTLENECK = "block_16_project"


def keras_weights(weights: str | None) -> str | None:
    """Map the CLI spelling ('imagenet', a path, 'none') to the Keras argument."""
    if weights is None or weights.lower() == "none":
        return None
    return weights


def freeze_batch_norm(model: keras.Model) -> None:
    """Keep ImageNet batch-norm statistics: small CPU batches would only add noise to them."""
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, layers.BatchNormalization):
            layer.trainable = False


def unfreeze_from(backbone: keras.Model, first_layer: str) -> None:
    """Make ``first_layer`` and every later backbone layer trainable (batch norm stays frozen)."""
    names = [layer.name for layer in backbone.layers]
    if first_layer not in names:
        raise ValueError(f"No layer {first_layer!r} in {backbone.name}. Received first_layer={first_layer}")
    backbone.trainable = True
    start = names.index(first_layer)
    for layer in backbone.layers[:start]:
        layer.trainable = False
    freeze_batch_norm(backbone)


def scale_to_unit_range(inputs: keras.KerasTensor) -> keras.KerasTensor:
    """MobileNetV2's preprocess_input, [0, 255] -> [-1, 1], as a layer kept inside the saved model."""
    return layers.Rescaling(1.0 / 127.5, offset=-1.0, name="scale_to_unit_range")(inputs)


def build_classifier(
    image_size: int,
    backbone_weights: str | None = "imagenet",
    dropout: float = 0.3,
) -> tuple[keras.Model, keras.Model]:
    """Build the binary melanoma classifier on a MobileNetV2 backbone.

    Args:
        image_size: side of the square RGB input, in pixels (at least 32).
        backbone_weights: ``"imagenet"`` (Keras download), a weights file path, or
            ``None`` / ``"none"`` for random initialisation.
        dropout: dropout rate before the final dense layer.

    Returns:
        ``(model, backbone)``; the model maps uint8-valued RGB to P(melanoma), and the
        backbone is returned so training can freeze and unfreeze it.
    """
    if image_size < 32:
        raise ValueError(f"image_size must be at least 32. Received image_size={image_size}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1). Received dropout={dropout}")
    inputs = keras.Input((image_size, image_size, 3), name="image")
    backbone = keras.applications.MobileNetV2(
        input_shape=(image_size, image_size, 3),
        include_top=False,
        weights=keras_weights(backbone_weights),
    )
    features = backbone(scale_to_unit_range(inputs))
    pooled = layers.GlobalAveragePooling2D(name="pool")(features)
    pooled = layers.Dropout(dropout, name="dropout")(pooled)
    outputs = layers.Dense(1, activation="sigmoid", name="melanoma_probability")(pooled)
    return keras.Model(inputs, outputs, name="melanoma_classifier"), backbone


def _conv_block(x: keras.KerasTensor, filters: int, name: str) -> keras.KerasTensor:
    for index in (1, 2):
        x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_sepconv{index}")(x)
        x = layers.BatchNormalization(name=f"{name}_bn{index}")(x)
        x = layers.ReLU(name=f"{name}_relu{index}")(x)
    return x


def build_unet(
    image_size: int,
    backbone_weights: str | None = "imagenet",
    filters: tuple[int, int, int, int] = (128, 64, 48, 32),
    full_resolution: int = 16,
) -> keras.Model:
    """Build a U-Net whose encoder is MobileNetV2 and whose decoder uses separable convs.

    Args:
        image_size: side of the square RGB input; must be a multiple of 32.
        backbone_weights: ``"imagenet"``, a weights file path, or ``None`` / ``"none"``.
        filters: decoder widths at 1/16, 1/8, 1/4 and 1/2 of the input resolution.
        full_resolution: width of a last decoder stage at the input resolution, which also sees
            the image itself, for a finer outline; 0 predicts at 1/2 resolution and upsamples.

    Returns:
        A model mapping uint8-valued RGB to a per-pixel lesion probability at input size.
    """
    if image_size < 32 or image_size % 32:
        raise ValueError(f"image_size must be a multiple of 32. Received image_size={image_size}")
    if len(filters) != len(UNET_SKIPS):
        raise ValueError(f"filters needs {len(UNET_SKIPS)} widths. Received filters={filters}")
    inputs = keras.Input((image_size, image_size, 3), name="image")
    scaled = scale_to_unit_range(inputs)
    encoder = keras.applications.MobileNetV2(
        input_tensor=scaled,
        include_top=False,
        weights=keras_weights(backbone_weights),
    )
    freeze_batch_norm(encoder)
    x = encoder.get_layer(UNET_BOTTLENECK).output
    for skip_name, width in zip(reversed(UNET_SKIPS), filters, strict=True):
        stage = f"decoder_{skip_name.split('_')[1]}"
        x = layers.UpSampling2D(2, interpolation="bilinear", name=f"{stage}_upsample")(x)
        x = layers.Concatenate(name=f"{stage}_concat")([x, encoder.get_layer(skip_name).output])
        x = _conv_block(x, width, stage)
    if full_resolution:
        x = layers.UpSampling2D(2, interpolation="bilinear", name="decoder_full_upsample")(x)
        x = layers.Concatenate(name="decoder_full_concat")([x, scaled])
        x = layers.SeparableConv2D(full_resolution, 3, padding="same", use_bias=False, name="decoder_full_sepconv")(x)
        x = layers.BatchNormalization(name="decoder_full_bn")(x)
        logits = layers.Conv2D(1, 1, name="mask_logits")(layers.ReLU(name="decoder_full_relu")(x))
    else:
        logits = layers.Conv2D(1, 1, name="mask_logits")(x)
        logits = layers.UpSampling2D(2, interpolation="bilinear", name="mask_upsample")(logits)
    outputs = layers.Activation("sigmoid", name="lesion_probability", dtype="float32")(logits)
    return keras.Model(inputs, outputs, name="lesion_unet")
