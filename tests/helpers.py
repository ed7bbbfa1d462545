"""Helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

TINY_OVERRIDES = [
    "data.input_size=[64, 64]",
    "model.encoder=resnet18",
    "training.batch_size=4",
    "training.max_epochs=2",
    "training.patience=null",
    "training.optimizer=adamw",
    "training.lr=0.001",
    "training.precision=32-true",
    "training.accelerator=cpu",
    "evaluation.bootstrap=50",
]


def tiny_base(**training) -> dict:
    """The tiny settings as a YAML mapping, for a ladder's base file; ``training`` keys changed
    or added (e.g. ``max_steps=2``)."""
    return {
        "data": {"input_size": [64, 64]},
        "model": {"encoder": "resnet18"},
        "training": {
            "batch_size": 4,
            "max_epochs": 1,
            "patience": None,
            "optimizer": "adamw",
            "lr": 0.001,
            "precision": "32-true",
            "accelerator": "cpu",
            **training,
        },
        "evaluation": {"bootstrap": 20},
    }


def shallow_unet(in_channels: int = 1, presence: bool = False):
    """A seeded, shallow resnet18 U-Net in eval mode: the real layer types at a fraction of the
    cost (with ``presence``, a presence head as sparseg's models have)."""
    import segmentation_models_pytorch as smp
    import torch

    torch.manual_seed(0)
    aux = {"aux_params": {"classes": 1, "dropout": 0.2}} if presence else {}
    return smp.Unet(
        "resnet18",
        encoder_weights=None,
        encoder_depth=3,
        decoder_channels=(32, 16, 8),
        in_channels=in_channels,
        classes=1,
        **aux,
    ).eval()


def tiny_config(*overrides: str):
    """Defaults shrunk for tests, plus ``overrides`` (section.key=value strings)."""
    from sparseg.config import load_config

    return load_config(None, [*TINY_OVERRIDES, *overrides])


# A non-trivial affine: 0.8 x 0.8 x 2.5 mm voxels, rotated about z, shifted.
VOLUME_AFFINE = [
    [0.0, -0.8, 0.0, 12.5],
    [0.8, 0.0, 0.0, -30.0],
    [0.0, 0.0, 2.5, 7.0],
    [0.0, 0.0, 0.0, 1.0],
]


def volume_case(shape=(32, 32, 6), seed: int = 0, channels: int = 1):
    """Images (one float32 array per channel, zero outside a 'head' and on the first slice) and
    a uint8 {0, 1} mask with a few small blobs, all of ``shape``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x, y = np.mgrid[: shape[0], : shape[1]]
    head = (x - shape[0] / 2) ** 2 + (y - shape[1] / 2) ** 2 < (min(shape[:2]) / 2.2) ** 2
    images = []
    for channel in range(channels):
        image = rng.normal(100 + 50 * channel, 10, shape).astype(np.float32) * head[..., None]
        image[..., 0] = 0
        images.append(image)
    mask = np.zeros(shape, np.uint8)
    for _ in range(3):
        cx, cy = rng.integers(10, shape[0] - 10), rng.integers(10, shape[1] - 10)
        cz = rng.integers(2, shape[2])
        mask[cx - 2 : cx + 2, cy - 2 : cy + 2, max(cz - 1, 1) : cz + 1] = 1
    for image in images:
        image[mask > 0] += 80  # lesions are bright, as on FLAIR
    return images, mask


def write_nifti_cases(root, cases=("a", "b", "c"), shape=(32, 32, 6), channels=1, affine=None):
    """nnU-Net raw folder of NIfTI volumes: imagesTr/<case>_000C.nii.gz, labelsTr/<case>.nii.gz."""
    from pathlib import Path

    import nibabel as nib
    import numpy as np

    root = Path(root)
    affine = np.asarray(affine if affine is not None else VOLUME_AFFINE, dtype=np.float64)
    (root / "imagesTr").mkdir(parents=True, exist_ok=True)
    (root / "labelsTr").mkdir(parents=True, exist_ok=True)
    for seed, case in enumerate(cases):
        images, mask = volume_case(shape, seed, channels)
        for channel, image in enumerate(images):
            nib.save(nib.Nifti1Image(image, affine), root / f"imagesTr/{case}_{channel:04d}.nii.gz")
        nib.save(nib.Nifti1Image(mask, affine), root / f"labelsTr/{case}.nii.gz")
    return root


def write_dicom(path, pixels, photometric: str = "MONOCHROME2"):
    """A single-frame DICOM file (Secondary Capture) holding ``pixels``."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    dataset = Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    dataset.SOPClassUID = SecondaryCaptureImageStorage
    dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID
    dataset.set_pixel_data(pixels, photometric, pixels.dtype.itemsize * 8)
    dataset.save_as(path, enforce_file_format=True)
    return path
