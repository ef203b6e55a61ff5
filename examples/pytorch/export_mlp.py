"""Trains two small PyTorch classifiers on scikit-learn's bundled data and exports them to ONNX files a verinfer node
serves (docs/pytorch.md walks through it).

    ~/torchvenv/bin/python examples/pytorch/export_mlp.py OUT_DIR [--exporter torchscript|dynamo]

writes to OUT_DIR:
- breast_cancer_mlp.onnx: an MLP on the 30 breast cancer features (raw values: the standardisation is a layer of
  the model), input "features" [batch, 30] float32, output "probabilities" [batch, 2];
- digits_cnn.onnx: a small CNN on the 8x8 digit images (raw pixels 0..16), input "pixels" [batch, 1, 8, 8],
  output "probabilities" [batch, 10];
- breast_cancer_rows.csv, digits_rows.csv: held-out rows with a header line, for `verinfer model check
  --input-sample`.

Nothing downloads. Training runs on the CPU, single-threaded, from a fixed seed, so a second run with the same torch
build writes the same bytes (the same model id); another torch version or build writes other bytes (the file names
its producer version). Needs torch, onnx, numpy and scikit-learn (not the project: torch stays out of its venv);
the dynamo exporter needs onnxscript as well.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split
from torch import nn

OPSET = 17
SEED = 0
SAMPLE_ROWS = 20
EXPORTERS = ("torchscript", "dynamo")


@dataclass(frozen=True)
class Exported:
    """One exported model: the file, the trained torch module (in eval mode) and held-out rows of its input."""

    path: Path
    sample: Path
    """A CSV of the first held-out rows, with a header line: `verinfer model check --input-sample`'s input."""
    module: nn.Module
    rows: npt.NDArray[np.float32]
    """Held-out inputs in the model's input shape, [rows, *input shape without the batch]."""
    accuracy: float


class Standardize(nn.Module):
    """(x - mean) / std with the training set's statistics as constants, so the model takes raw features."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, x: npt.NDArray[np.float64]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(x.mean(axis=0), dtype=torch.float32))
        self.register_buffer("std", torch.tensor(x.std(axis=0), dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def mlp(x_train: npt.NDArray[np.float64], classes: int) -> nn.Module:
    return nn.Sequential(
        Standardize(x_train),
        nn.Linear(x_train.shape[1], 16),
        nn.ReLU(),
        nn.Dropout(0.1),  # active while training only: model.eval() before export
        nn.Linear(16, classes),
        nn.Softmax(dim=1),
    )


def cnn(classes: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 8x8 -> 4x4
        nn.Flatten(),  # one Flatten node; x.view(x.size(0), -1) exports as Shape/Gather/Concat/Reshape
        nn.Linear(8 * 4 * 4, classes),
        nn.Softmax(dim=1),
    )


def train(model: nn.Module, x: npt.NDArray[np.float32], y: npt.NDArray[np.int64], epochs: int) -> nn.Module:
    """Full-batch Adam on the log of the softmax outputs: a few hundred steps, well under a second each."""
    inputs, labels = torch.from_numpy(x), torch.from_numpy(y)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = nn.functional.nll_loss(torch.log(model(inputs) + 1e-9), labels)
        torch.autograd.backward(loss)
        optimizer.step()
    return model.eval()


def export(model: nn.Module, example: torch.Tensor, path: Path, input_name: str, exporter: str) -> None:
    """Writes `model` as one self-contained ONNX file with a symbolic batch dimension named "batch"."""
    if exporter == "torchscript":
        torch.onnx.export(
            model, (example,), path, dynamo=False, opset_version=OPSET, do_constant_folding=True,
            input_names=[input_name], output_names=["probabilities"],
            dynamic_axes={input_name: {0: "batch"}, "probabilities": {0: "batch"}},
        )  # fmt: skip
    else:  # the torch.export-based exporter: needs onnxscript, builds at opset 18 and converts down to OPSET
        torch.onnx.export(
            model, (example,), path, dynamo=True, opset_version=OPSET, do_constant_folding=True,
            input_names=[input_name], output_names=["probabilities"],
            dynamic_shapes=({0: torch.export.Dim("batch")},),  # keys would be forward()'s argument names
            external_data=False,  # its default writes weights to <path>.data, which the model id does not cover
        )  # fmt: skip
    siblings = sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name) and p != path)
    if siblings:  # the model id covers the .onnx file only: weights beside it would not be bound by it
        raise RuntimeError(f"the export wrote external data {siblings}: the file must hold every tensor")


def breast_cancer_mlp(out_dir: Path, exporter: str) -> Exported:
    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=SEED, stratify=y)
    model = train(mlp(x_train, 2), x_train.astype(np.float32), y_train.astype(np.int64), epochs=300)
    path = out_dir / "breast_cancer_mlp.onnx"
    export(model, torch.from_numpy(x_test[:1].astype(np.float32)), path, "features", exporter)
    sample = _write_rows(out_dir / "breast_cancer_rows.csv", load_breast_cancer().feature_names, x_test)
    return Exported(path, sample, model, x_test.astype(np.float32), _accuracy(model, x_test, y_test))


def digits_cnn(out_dir: Path, exporter: str) -> Exported:
    x, y = load_digits(return_X_y=True)  # 1,797 images, 64 pixels each, integers 0..16
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=SEED, stratify=y)
    images = x_train.reshape(-1, 1, 8, 8).astype(np.float32)
    model = train(cnn(10), images, y_train.astype(np.int64), epochs=150)
    path = out_dir / "digits_cnn.onnx"
    test_images = x_test.reshape(-1, 1, 8, 8).astype(np.float32)
    export(model, torch.from_numpy(test_images[:1]), path, "pixels", exporter)
    sample = _write_rows(out_dir / "digits_rows.csv", [f"pixel_{i}" for i in range(64)], x_test)
    return Exported(path, sample, model, test_images, _accuracy(model, test_images, y_test))


def export_all(out_dir: Path, exporter: str = "torchscript") -> list[Exported]:
    """Trains and exports both models into `out_dir` (created if missing)."""
    if exporter not in EXPORTERS:
        raise ValueError(f"exporter must be one of {EXPORTERS}, not {exporter!r}")
    torch.manual_seed(SEED)
    torch.set_num_threads(1)  # one summation order: the same weights, hence the same bytes, on every run
    torch.use_deterministic_algorithms(True)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [breast_cancer_mlp(out_dir, exporter), digits_cnn(out_dir, exporter)]


def _accuracy(model: nn.Module, x: npt.NDArray[np.floating], y: npt.NDArray[np.integer]) -> float:
    with torch.no_grad():
        predicted = model(torch.from_numpy(x.astype(np.float32))).argmax(dim=1).numpy()
    return float((predicted == y).mean())


def _write_rows(path: Path, header: Sequence[str], rows: npt.NDArray[np.float64]) -> Path:
    with path.open("w", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([repr(float(v)) for v in row] for row in rows[:SAMPLE_ROWS])
    return path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--exporter", choices=EXPORTERS, default="torchscript")
    args = parser.parse_args(argv)
    for exported in export_all(args.out_dir, args.exporter):
        size = exported.path.stat().st_size
        print(f"{exported.path}  {size} bytes  held-out accuracy {exported.accuracy:.3f}")
        print(f"  check it: verinfer model check {exported.path} --input-sample {exported.sample}")


if __name__ == "__main__":
    main()
