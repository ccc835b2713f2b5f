"""ResNet backbones in plain torch, with torchvision's parameter names.

``resnet_18``/``resnet_34`` use BasicBlock and ``resnet_50`` Bottleneck, as in the ResNet paper;
names match torchvision so its ImageNet state dicts load directly. ``resnet_lite`` is a narrow
ResNet (one BasicBlock per stage, widths 32-64-128-256) that trains usefully on a CPU.
``last_stride=1`` keeps the last stage at 1/16 resolution, the usual ReID trick.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


@dataclass(frozen=True)
class ResNetLayout:
    block: type
    layers: tuple[int, int, int, int]
    widths: tuple[int, int, int, int] = (64, 128, 256, 512)
    stem_width: int = 64


LAYOUTS = {
    "resnet_18": ResNetLayout(BasicBlock, (2, 2, 2, 2)),
    "resnet_34": ResNetLayout(BasicBlock, (3, 4, 6, 3)),
    "resnet_50": ResNetLayout(Bottleneck, (3, 4, 6, 3)),
    "resnet_lite": ResNetLayout(BasicBlock, (1, 1, 1, 1), (32, 64, 128, 256), stem_width=32),
}


class ResNet(nn.Module):
    """Stem + four stages; ``forward`` returns the last feature map (no pooling, no classifier)."""

    def __init__(self, layout: ResNetLayout, last_stride: int = 1, in_channels: int = 3) -> None:
        super().__init__()
        self.inplanes = layout.stem_width
        self.conv1 = nn.Conv2d(in_channels, self.inplanes, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        strides = (1, 2, 2, last_stride)
        for index, (blocks, width, stride) in enumerate(zip(layout.layers, layout.widths, strides), start=1):
            setattr(self, f"layer{index}", self._make_stage(layout.block, width, blocks, stride))
        self.out_channels = layout.widths[-1] * layout.block.expansion
        self._init_weights()

    def _make_stage(self, block: type, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def build_backbone(name: str, last_stride: int = 1, in_channels: int = 3) -> ResNet:
    return ResNet(LAYOUTS[name], last_stride=last_stride, in_channels=in_channels)
