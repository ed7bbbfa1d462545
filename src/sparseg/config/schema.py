"""The YAML schema: one pydantic model per section, with defaults, ranges and one-line
descriptions. Reading, overrides and error messages live in :mod:`sparseg.config.loading`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
PositiveFloat = Annotated[float, Field(gt=0.0)]
Size2D = tuple[Annotated[int, Field(ge=8)], Annotated[int, Field(ge=8)]]

LOSS_TERMS = ("dice", "bce", "focal_tversky", "tversky", "focal")


class Section(BaseModel):
    # inf/nan pass every gt/ge bound (lr: .inf would validate), so refuse them everywhere
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


# ---------------------------------------------------------------- data
class DataConfig(Section):
    mode: Literal["resize", "patch"] = Field(
        "resize", description="resize every image to input_size, or train on patches of it"
    )
    input_size: Size2D = Field((128, 128), description="(height, width) the network sees")
    foreground_oversample: Probability = Field(
        0.33, description="share of each batch's patches centred on foreground (patch mode)"
    )
    label: int | None = Field(None, description="label value kept as foreground in label-map masks")
    normalize: Literal["zscore", "minmax", "none"] = Field(
        "zscore", description="per-image intensity normalisation, each channel on its own"
    )
    val_fraction: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(
        0.2, description="validation share of the seeded default split (when no --split is given)"
    )
    test_fraction: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        0.15, description="test share of the seeded default split"
    )
    group_regex: str | None = Field(
        None, description="regex whose first group names the subject of an id (grouped splits)"
    )
    slice_axis: Annotated[int, Field(ge=0, le=2)] | None = Field(
        None,
        description="volume axis cut into 2D slices (None: the lowest-resolution axis, else the "
        "last; stacks are always cut into frames)",
    )
    keep_slices: Literal["all", "nonzero"] | Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        "nonzero",
        description="volume slices kept as items: all, nonzero (first-channel image not all "
        "zero), or a share of the lesion-free non-zero slices kept for training",
    )
    num_workers: Annotated[int, Field(ge=0)] = Field(0, description="DataLoader worker processes")
    cache: Literal["auto", "ram", "none"] = Field(
        "auto",
        description="decode and resize the run's images once and reuse them (auto: when they "
        "fit a quarter of the available RAM; on a GPU a small set lives on the device)",
    )

    @field_validator("input_size")
    @classmethod
    def _encoder_stride(cls, size: tuple[int, int]) -> tuple[int, int]:
        if size[0] % 32 or size[1] % 32:
            raise ValueError(f"{list(size)}: both sides must be multiples of 32 (encoder stride)")
        return size


# ---------------------------------------------------------------- model
class ModelConfig(Section):
    architecture: str = Field("unet", description="smp architecture: unet, unetplusplus, fpn, ...")
    encoder: str = Field("resnet34", description="smp encoder name or tu-<timm name>")
    encoder_weights: str | None = Field(
        None, description="imagenet, none, or a local .pth/.safetensors encoder state dict"
    )
    pretrained_weights: str | None = Field(
        None,
        description="a local .pth/.safetensors state dict of the whole network's encoder and "
        "decoder, as `sparseg pretrain` writes (self-supervised on your own images); the heads "
        "start fresh. Needs encoder_weights none (the file holds the encoder too), the same "
        "architecture, encoder, decoder_channels and norm as the pretraining, and as many input "
        "channels (3-channel weights are adapted, as for encoder_weights)",
    )
    decoder_dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        0.0, description="dropout probability after each decoder block"
    )
    norm: Literal["batch", "instance"] = Field(
        "batch",
        description="normalisation layers of encoder and decoder: batch (smp's BatchNorm) or "
        "instance (affine InstanceNorm, as nnU-Net; independent of what else is in the batch)",
    )
    bn_momentum: Annotated[float, Field(gt=0.0, le=1.0)] | None = Field(
        None, description="momentum of every BatchNorm layer (None keeps PyTorch's 0.1)"
    )
    output_bias: Literal["prior", "zero"] = Field(
        "prior",
        description="initial bias of every logit head: prior (the logit of the training "
        "foreground share, and of the share of images with foreground for the presence head, "
        "as RetinaNet initialises its classifier) or zero (smp's default: every pixel starts at "
        "probability 0.5, so the first steps of BCE push the whole network towards background)",
    )
    activation: Literal["relu", "leaky_relu", "mish"] = Field(
        "relu", description="activation used across encoder and decoder"
    )
    leaky_slope: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(
        0.01, description="negative slope of LeakyReLU"
    )
    init: Literal["default", "kaiming"] = Field(
        "default", description="weight init of every layer that is not pre-trained"
    )
    decoder_channels: list[Annotated[int, Field(ge=1)]] | None = Field(
        None,
        description="U-Net/U-Net++/MA-Net decoder widths, deepest first (None: smp's 256…16)",
    )
    deep_supervision: bool = Field(False, description="1x1 heads on decoder levels (training only)")
    deep_supervision_weights: list[Annotated[float, Field(ge=0.0)]] = Field(
        [1.0, 0.4, 0.2, 0.1], description="loss weight of the output, then of deeper decoder levels"
    )
    presence_head: bool = Field(
        False,
        description="smp classification head on the encoder predicting 'this image has "
        "foreground' (trained with loss.presence_weight; feeds the empty-image gate)",
    )
    presence_dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        0.2, description="dropout before the presence head's linear layer"
    )

    @field_validator("encoder_weights", "pretrained_weights")
    @classmethod
    def _none_string(cls, value: str | None) -> str | None:
        return None if value in (None, "", "none", "None", "null") else value


# ---------------------------------------------------------------- loss
class LossConfig(Section):
    terms: dict[str, Annotated[float, Field(ge=0.0)]] = Field(
        {"dice": 0.5, "bce": 0.5},
        description=f"weighted sum of loss terms; names: {', '.join(LOSS_TERMS)}",
    )
    region_reduction: Literal["per_image", "batch"] = Field(
        "per_image",
        description="Dice/Tversky per image then averaged (empty pairs score by smoothing), "
        "or pooled over the batch",
    )
    smooth: Annotated[float, Field(ge=0.0)] = Field(1.0, description="Dice/Tversky smoothing")
    pos_weight: Annotated[float, Field(gt=0.0)] | Literal["auto"] | None = Field(
        None, description="BCE positive-class weight, or auto (background:foreground ratio)"
    )
    tversky_fn_weight: Probability = Field(
        0.7, description="Tversky weight of false negatives (Abraham & Khan's alpha)"
    )
    tversky_fp_weight: Probability = Field(
        0.3, description="Tversky weight of false positives (Abraham & Khan's beta)"
    )
    focal_tversky_exponent: Annotated[float, Field(gt=0.0)] = Field(
        0.75,
        description="loss = (1 - TI) ** exponent; Abraham & Khan's gamma=4/3 is exponent 0.75",
    )
    focal_gamma: Annotated[float, Field(ge=0.0)] = Field(2.0, description="focal BCE gamma")
    focal_alpha: Probability | None = Field(0.25, description="focal BCE positive weight")
    presence_weight: Annotated[float, Field(ge=0.0)] = Field(
        0.2, description="weight of the presence head's BCE (needs model.presence_head)"
    )

    @field_validator("terms")
    @classmethod
    def _known_terms(cls, terms: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(terms) - set(LOSS_TERMS))
        if unknown:
            raise ValueError(f"unknown loss term(s) {unknown}; allowed: {', '.join(LOSS_TERMS)}")
        if not terms or sum(terms.values()) <= 0:
            raise ValueError("at least one loss term needs a positive weight")
        return terms


# ---------------------------------------------------------------- augmentation
class Transform(Section):
    p: Probability = Field(0.0, description="probability of applying the transform")


class RotateAug(Transform):
    limit: Annotated[float, Field(ge=0.0, le=180.0)] = Field(
        20.0, description="rotation drawn from [-limit, limit] degrees (reflection padding)"
    )


class ShiftScaleRotateAug(Transform):
    shift_limit: Annotated[float, Field(ge=0.0, le=0.5)] = Field(
        0.1, description="shift drawn from [-limit, limit] of the image size, per axis"
    )
    scale_limit: Annotated[float, Field(ge=0.0, le=0.9)] = Field(
        0.1, description="scale factor drawn from [1 - limit, 1 + limit]"
    )
    rotate_limit: Annotated[float, Field(ge=0.0, le=180.0)] = Field(
        0.0, description="rotation drawn from [-limit, limit] degrees"
    )


class ElasticAug(Transform):
    alpha: PositiveFloat = Field(120.0, description="displacement scale in pixels")
    sigma: PositiveFloat = Field(6.0, description="Gaussian smoothing of the field in pixels")


class GridDistortionAug(Transform):
    num_steps: Annotated[int, Field(ge=1, le=64)] = Field(5, description="grid cells per axis")
    distort_limit: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        0.3, description="each cell's width scaled by a factor in [1 - limit, 1 + limit]"
    )


class NoiseAug(Transform):
    std: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.01, description="noise std on [0, 1] intensities"
    )


class BlurAug(Transform):
    kernel: Annotated[int, Field(ge=3, le=31)] = Field(3, description="odd kernel size in px")
    sigma: tuple[PositiveFloat, PositiveFloat] = Field(
        (0.1, 1.0), description="range of the Gaussian's sigma in px"
    )

    @field_validator("kernel")
    @classmethod
    def _odd(cls, kernel: int) -> int:
        if kernel % 2 == 0:
            raise ValueError("kernel must be odd")
        return kernel


class ClaheAug(Transform):
    clip_limit: PositiveFloat = Field(4.0, description="clip limit drawn from [1, clip_limit]")
    tiles: Annotated[int, Field(ge=1, le=32)] = Field(8, description="tiles per image side")


class BrightnessContrastAug(Transform):
    brightness_limit: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.2, description="brightness offset drawn from [-limit, limit] on [0, 1] intensities"
    )
    contrast_limit: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.2, description="contrast factor drawn from [1 - limit, 1 + limit] around the mean"
    )


class MultiplicativeBrightnessAug(Transform):
    limit: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        0.25, description="intensities times a factor in [1 - limit, 1 + limit] (nnU-Net's)"
    )


class GammaAug(Transform):
    gamma: tuple[PositiveFloat, PositiveFloat] = Field(
        (0.7, 1.5), description="range of the gamma applied to intensities scaled to [0, 1]"
    )


class LowResolutionAug(Transform):
    zoom: tuple[
        Annotated[float, Field(gt=0.0, le=1.0)], Annotated[float, Field(gt=0.0, le=1.0)]
    ] = Field(
        (0.5, 1.0),
        description="image shrunk to this factor of its size (nearest) and enlarged back "
        "(bicubic): a scanner of lower resolution",
    )


class MultiScaleConfig(Section):
    enabled: bool = Field(False, description="random input scale per batch")
    scales: tuple[PositiveFloat, PositiveFloat] = Field((0.75, 1.25), description="scale range")
    multiple_of: Annotated[int, Field(ge=1)] = Field(32, description="sizes rounded to this")


class AugmentConfig(Section):
    enabled: bool = Field(True, description="False: train on the images as they are")
    hflip: Transform = Transform(p=0.5)
    vflip: Transform = Transform(p=0.5)
    rotate: RotateAug = RotateAug(p=0.5)
    shift_scale_rotate: ShiftScaleRotateAug = ShiftScaleRotateAug(p=0.5)
    elastic: ElasticAug = ElasticAug()
    grid_distortion: GridDistortionAug = GridDistortionAug()
    gaussian_noise: NoiseAug = NoiseAug()
    gaussian_blur: BlurAug = BlurAug()
    clahe: ClaheAug = ClaheAug()
    brightness_contrast: BrightnessContrastAug = BrightnessContrastAug()
    brightness_multiplicative: MultiplicativeBrightnessAug = MultiplicativeBrightnessAug()
    gamma: GammaAug = GammaAug()
    low_resolution: LowResolutionAug = LowResolutionAug()
    multiscale: MultiScaleConfig = MultiScaleConfig()


# ---------------------------------------------------------------- training
class EmaConfig(Section):
    enabled: bool = Field(False, description="validate, save best.ckpt and export EMA weights")
    decay: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(0.999, description="EMA decay")
    warmup: bool = Field(
        True,
        description="decay grows as 1 - (1 + step) ** -warmup_power up to decay (timm), so a "
        "short run does not average in its first random weights",
    )
    warmup_power: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.75, description="decay warm-up power (0.75: decay 0.99 after ~460 steps)"
    )


class ProgressiveConfig(Section):
    start_scale: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(
        0.5, description="input size factor early in the run (sides rounded to multiples of 32)"
    )
    until_fraction: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(
        0.3, description="share of the run's progress (steps or wall clock) at the small size"
    )


class BlankGuardConfig(Section):
    enabled: bool = Field(
        True,
        description="restart a network that is still blank (validation Dice on the images with "
        "a target below 0.01 at every threshold tried, since its start) once `after` of the "
        "budget has passed: fresh weights from another seed and the LR times lr_factor, for the "
        "rest of the same budget",
    )
    after: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(
        0.2, description="share of the run's budget (steps or minutes) a network may stay blank"
    )
    max_restarts: Annotated[int, Field(ge=0)] = Field(
        2, description="restarts at most; a network blank after them is saved and flagged blank"
    )
    lr_factor: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.5, description="LR multiplier applied at each restart"
    )


class TrainingConfig(Section):
    optimizer: Literal["adamw", "adam", "sgd"] = Field(
        "adam", description="optimiser (sgd: with Nesterov momentum)"
    )
    lr: PositiveFloat = Field(1e-4, description="peak learning rate")
    weight_decay: Annotated[float, Field(ge=0.0)] = Field(0.0, description="weight decay")
    momentum: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(0.9, description="SGD momentum")
    batch_size: Annotated[int, Field(ge=1)] = Field(16, description="images per batch and process")
    accumulate_grad_batches: Annotated[int, Field(ge=1)] = Field(
        1, description="batches whose gradients are summed before each optimiser step"
    )
    steps_per_epoch: Annotated[int, Field(ge=1)] | None = Field(
        None, description="batches per epoch (None: one pass over the training images)"
    )
    max_epochs: Annotated[int, Field(ge=1)] = Field(100, description="epochs cap")
    max_steps: Annotated[int, Field(ge=1)] | None = Field(None, description="optimizer steps cap")
    max_minutes: PositiveFloat | None = Field(None, description="wall-clock budget in minutes")
    patience: Annotated[int, Field(ge=1)] | None = Field(
        20, description="early stopping: validations without improvement (None: off)"
    )
    val_every: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        "auto",
        description="validate every N epochs and at the end (auto: every epoch without "
        "max_minutes; with it, as often as keeps validation under 5 % of the training time)",
    )
    validation_thresholds: tuple[Annotated[float, Field(gt=0.0, lt=1.0)], ...] = Field(
        (),
        description="score each validation at each of these thresholds and keep the best for "
        "best.ckpt and early stopping (empty: inference.threshold alone); a network that ranks "
        "its targets below 0.5 early on is then kept, not discarded as empty",
    )
    checkpoint_every: Annotated[int, Field(ge=1)] = Field(
        1,
        description="runs without max_minutes: write last.ckpt every N epochs and at the end "
        "(resume replays the rest)",
    )
    checkpoint_minutes: PositiveFloat = Field(
        2.0,
        description="runs with max_minutes: write last.ckpt at the first epoch end this many "
        "minutes after the last write, and at the end (a kill loses at most about this much)",
    )
    memory_format: Literal["channels_last", "contiguous"] = Field(
        "channels_last",
        description="layout of the network's weights and batches (channels_last: faster "
        "convolutions on CPU and on GPU tensor cores)",
    )
    warmup_epochs: Annotated[float, Field(ge=0.0)] = Field(
        0.0, description="epochs at reduced LR at the start"
    )
    warmup_fraction: Annotated[float, Field(ge=0.0, lt=1.0)] | None = Field(
        None, description="warm-up as a share of the whole schedule (overrides warmup_epochs)"
    )
    warmup_factor: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.1, description="LR multiplier during warm-up"
    )
    schedule: Literal["constant", "cosine", "poly", "plateau"] = Field(
        "constant",
        description="LR after warm-up: constant, cosine to min_lr_factor, poly (1 - t) ** "
        "poly_exponent to 0 (nnU-Net), or reduce on plateau",
    )
    poly_exponent: PositiveFloat = Field(0.9, description="exponent of the poly schedule")
    min_lr_factor: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.01, description="cosine floor as a fraction of lr"
    )
    plateau_factor: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(
        0.5, description="plateau: LR multiplier at each reduction"
    )
    plateau_patience: Annotated[int, Field(ge=1)] = Field(
        10, description="plateau: validations without improvement before a reduction"
    )
    max_lr_reductions: Annotated[int, Field(ge=0)] = Field(5, description="plateau cap")
    grad_clip: PositiveFloat | None = Field(None, description="max gradient norm (None: off)")
    val_dice_smoothing: Annotated[float, Field(ge=0.0, lt=1.0)] | None = Field(
        None,
        description="choose best.ckpt (and count patience) on an exponential moving average of "
        "validation Dice with this weight on the past, as nnU-Net does with 0.9 (None: the raw "
        "Dice of each validation)",
    )
    precision: Literal["32-true", "bf16-mixed", "16-mixed", "auto"] = Field(
        "auto", description="auto: bf16-mixed on a GPU that supports it, 32-true on CPU"
    )
    accelerator: Literal["auto", "cpu", "cuda", "gpu"] = Field(
        "auto", description="where to train (auto: a GPU when one is visible)"
    )
    devices: Annotated[int, Field(ge=1)] = Field(1, description="processes per node (DDP above 1)")
    num_nodes: Annotated[int, Field(ge=1)] = Field(1, description="machines (DDP)")
    skip_nonfinite: bool = Field(False, description="skip a step whose loss is NaN/inf")
    ema: EmaConfig = EmaConfig()
    blank_guard: BlankGuardConfig = BlankGuardConfig()
    progressive: ProgressiveConfig | None = Field(
        None, description="progressive resizing: train the first part of the run smaller"
    )


# ---------------------------------------------------------------- inference
class PostprocessConfig(Section):
    min_object_size: Annotated[int, Field(ge=0)] = Field(0, description="remove smaller objects")
    closing_radius: Annotated[int, Field(ge=0)] = Field(0, description="binary closing disk")
    keep_largest: bool = Field(False, description="keep only the largest object")
    fill_holes: bool = Field(False, description="fill holes inside objects")
    min_object_size_3d: Annotated[int, Field(ge=0)] = Field(
        0,
        description="volumes: remove 26-connected 3D objects of fewer voxels once the slices are "
        "put back together (0: off)",
    )


class CrfConfig(Section):
    enabled: bool = Field(False, description="refine the mask with a dense CRF (pydensecrf2)")
    iterations: Annotated[int, Field(ge=1, le=50)] = Field(5, description="mean-field iterations")
    gaussian_sxy: PositiveFloat = Field(3.0, description="smoothness kernel width in px")
    gaussian_compat: PositiveFloat = Field(3.0, description="smoothness kernel weight")
    bilateral_sxy: PositiveFloat = Field(30.0, description="appearance kernel width in px")
    bilateral_srgb: PositiveFloat = Field(
        13.0, description="appearance kernel intensity width (0-255 scale)"
    )
    bilateral_compat: PositiveFloat = Field(5.0, description="appearance kernel weight")


class EmptyGateConfig(Section):
    enabled: bool = Field(False, description="predict an empty mask below the bounds below")
    min_max_probability: Probability = Field(0.0, description="below: predict an empty mask")
    min_component_area: Annotated[int, Field(ge=0)] = Field(0, description="below: predict empty")
    min_presence_probability: Probability = Field(
        0.0, description="presence head's probability below this: predict empty"
    )


class InferenceConfig(Section):
    threshold: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(
        0.5, description="foreground probability above which a pixel is marked"
    )
    tta: bool = Field(False, description="8-fold flip/rot90 test-time augmentation")
    tta_batched: Literal["auto", "yes", "no"] = Field(
        "auto", description="one batched forward for the 8 views (auto: on GPU only)"
    )
    sliding_window: bool = Field(False, description="Gaussian-weighted windows (patch mode)")
    window_overlap: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        0.5, description="share of a window its neighbours overlap"
    )
    postprocess: PostprocessConfig = PostprocessConfig()
    crf: CrfConfig = CrfConfig()
    empty_gate: EmptyGateConfig = EmptyGateConfig()


# ---------------------------------------------------------------- evaluation
class EvaluationConfig(Section):
    object_iou: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.1, description="IoU at which a predicted component detects a true one"
    )
    bootstrap: Annotated[int, Field(ge=0)] = Field(1000, description="bootstrap resamples (0: off)")
    spacing_mm: PositiveFloat | None = Field(None, description="pixel size for distances in mm")


# ---------------------------------------------------------------- pretrain
class PretrainConfig(Section):
    """``sparseg pretrain``: self-supervised pretraining of the configured network."""

    objective: Literal["restoration", "masked"] = Field(
        "restoration",
        description="restoration: the network restores images distorted by intensity curves, "
        "noise, blur and cut-out boxes (Models Genesis, encoder and decoder together); masked: "
        "it fills in randomly masked square patches, the loss counted on them only (SimMIM)",
    )
    mask_ratio: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(
        0.6, description="masked: share of the patches hidden"
    )
    mask_patch: Annotated[int, Field(ge=4)] = Field(
        16, description="masked: side of a hidden square patch in pixels"
    )
    lr: PositiveFloat | None = Field(None, description="learning rate (None: training.lr)")


class Config(Section):
    """The whole YAML: one section per stage of the data's path, plus the seed."""

    seed: Annotated[int, Field(ge=0)] = Field(
        0, description="the one seed all randomness derives from (split, weights, batches)"
    )
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    augment: AugmentConfig = AugmentConfig()
    training: TrainingConfig = TrainingConfig()
    inference: InferenceConfig = InferenceConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    pretrain: PretrainConfig = PretrainConfig()

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        if self.data.val_fraction + self.data.test_fraction >= 1.0:
            raise ValueError("data.val_fraction + data.test_fraction must stay below 1")
        if self.model.norm == "instance" and min(self.data.input_size) < 64:
            raise ValueError(
                f"model.norm instance needs data.input_size of at least 64 per side, got "
                f"{list(self.data.input_size)} (the deepest level is 1/32 of it, and instance "
                "norm over a single pixel is undefined)"
            )
        return self
