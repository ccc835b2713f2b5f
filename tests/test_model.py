"""Backbones, the BNNeck baseline, pretrained loading, losses and the learning-rate schedule."""

from __future__ import annotations

import dataclasses
import math
import os
import pickle

import pytest
import torch

from reid_core.checkpoints import read_weights
from reid_core.config import ExperimentConfig
from reid_core.errors import CheckpointError
from reid_core.losses import (
    CenterLoss,
    ReidLoss,
    batch_hard_triplet_loss,
    label_smoothed_cross_entropy,
    loss_terms,
)
from reid_core.modeling.backbones import BasicBlock, Bottleneck, build_backbone
from reid_core.modeling.baseline import ReidBaseline
from reid_core.modeling.pretrained import load_pretrained
from reid_core.optim import build_optimizer, lr_factor, parameter_groups


def spec_with(**sections) -> ExperimentConfig:
    """Default spec with some keys of some sections replaced, e.g. model={"backbone": "resnet_18"}."""
    spec = ExperimentConfig()
    for section, values in sections.items():
        if section == "optim":
            spec = dataclasses.replace(spec, train=dataclasses.replace(
                spec.train, optim=dataclasses.replace(spec.train.optim, **values)))
        else:
            spec = dataclasses.replace(spec, **{section: dataclasses.replace(getattr(spec, section), **values)})
    return spec


# --- backbones: parameter counts of the reference architectures are the oracle -------------------

@pytest.mark.parametrize(("name", "block", "params"), [
    ("resnet_18", BasicBlock, 11_176_512),
    ("resnet_34", BasicBlock, 21_284_672),
    ("resnet_50", Bottleneck, 23_508_032),
])
def test_resnets_have_the_reference_architecture(name, block, params):
    backbone = build_backbone(name)
    assert sum(p.numel() for p in backbone.parameters()) == params
    assert all(isinstance(b, block) for layer in (backbone.layer1, backbone.layer4) for b in layer)


@pytest.mark.parametrize(("last_stride", "size"), [(1, (16, 8)), (2, (8, 4))])
def test_last_stride_sets_the_final_resolution(last_stride, size):
    out = build_backbone("resnet_lite", last_stride=last_stride)(torch.zeros(1, 3, 256, 128))
    assert out.shape[-2:] == size


def test_bnneck_has_a_frozen_bias_and_a_bias_free_classifier():
    model = ReidBaseline(spec_with(model={"backbone": "resnet_lite"}), num_classes=10)
    assert not model.bottleneck.bias.requires_grad
    assert model.classifier.bias is None
    logits, feature = model.train()(torch.randn(4, 3, 64, 32))
    assert logits.shape == (4, 10) and feature.shape == (4, 256)


@pytest.mark.parametrize("neck_feat", ["before", "after"])
def test_neck_feat_picks_the_embedding_before_or_after_the_bnneck(neck_feat):
    model = ReidBaseline(spec_with(model={"backbone": "resnet_lite", "neck_feat": neck_feat}), 5).eval()
    images = torch.randn(3, 3, 64, 32)
    with torch.no_grad():
        pooled = model._global_feature(images)
        expected = model.bottleneck(pooled) if neck_feat == "after" else pooled
        assert torch.allclose(model.embed(images), expected)


def test_flip_feature_averages_the_image_and_its_mirror():
    model = ReidBaseline(spec_with(model={"backbone": "resnet_lite", "with_flip_feature": True}), 5).eval()
    images = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        plain = model._embed_once(images)
        mirrored = model._embed_once(images.flip(-1))
        assert torch.allclose(model.embed(images), (plain + mirrored) / 2, atol=1e-6)
        assert torch.allclose(model.embed(images.flip(-1)), model.embed(images), atol=1e-5)


def test_reduce_feat_dim_projects_to_feat_dim():
    model = ReidBaseline(spec_with(model={"backbone": "resnet_lite", "reduce_feat_dim": True, "feat_dim": 64}), 5)
    assert model.eval().embed(torch.randn(2, 3, 64, 32)).shape == (2, 64)


def test_cosine_layer_and_gem_pooling_train():
    spec = spec_with(model={"backbone": "resnet_lite", "cos_layer": True, "gem_pooling": True})
    model = ReidBaseline(spec, 6).train()
    labels = torch.tensor([0, 1, 2, 3])
    logits, _ = model(torch.randn(4, 3, 64, 32), labels)
    loss = label_smoothed_cross_entropy(logits, labels, 0.1)
    loss.backward()
    assert model.pool.p.grad is not None and torch.isfinite(loss)


# --- pretrained weights ---------------------------------------------------------------------------

def test_torchvision_state_dict_loads_into_the_backbone_without_its_classifier(tmp_path):
    source = build_backbone("resnet_18")
    for p in source.parameters():
        torch.nn.init.normal_(p)
    state = dict(source.state_dict())
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 512), torch.zeros(1000)
    torch.save(state, tmp_path / "resnet18.pth")
    model = ReidBaseline(spec_with(model={"backbone": "resnet_18"}), 7)
    report = load_pretrained(model, str(tmp_path / "resnet18.pth"))
    assert report.loaded == len(source.state_dict()) and not report.skipped_shape
    assert torch.equal(model.base.layer4[1].conv2.weight, source.layer4[1].conv2.weight)


def test_reid_state_dict_with_prefix_loads_and_mismatched_shapes_are_listed(tmp_path):
    donor = ReidBaseline(spec_with(model={"backbone": "resnet_lite"}), 11)
    state = {f"model.{k}": v for k, v in donor.state_dict().items()}
    state["model.bottleneck.weight"] = torch.ones(3)  # wrong shape on purpose
    torch.save({"state_dict": state}, tmp_path / "tao.pth")
    model = ReidBaseline(spec_with(model={"backbone": "resnet_lite"}), 4)
    report = load_pretrained(model, str(tmp_path / "tao.pth"))
    assert report.skipped_shape == ("bottleneck.weight",)
    assert torch.equal(model.base.conv1.weight, donor.base.conv1.weight)
    assert model.classifier.weight.shape == (4, 256)  # another dataset's classifier is never loaded


def test_weights_of_another_architecture_are_refused(tmp_path):
    torch.save({"encoder.weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="model.pretrained_model_path: no tensor of .* matches"):
        load_pretrained(ReidBaseline(spec_with(model={"backbone": "resnet_lite"}), 2), str(tmp_path / "other.pth"))


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch /tmp/reid_pickle_ran",))


def test_a_checkpoint_carrying_code_is_refused_and_the_code_never_runs(tmp_path):
    marker = "/tmp/reid_pickle_ran"
    if os.path.exists(marker):
        os.remove(marker)
    torch.save({"state_dict": {}, "evil": _Payload()}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match="refused .*pickled Python objects"):
        read_weights(tmp_path / "evil.pth", "evaluate.checkpoint")
    assert not os.path.exists(marker)


@pytest.mark.parametrize("content", [b"", b"garbage bytes", pickle.dumps([1, 2, 3])])
def test_corrupt_checkpoint_is_refused_naming_the_key(tmp_path, content):
    (tmp_path / "bad.pth").write_bytes(content)
    with pytest.raises(CheckpointError, match="export.checkpoint: .*bad.pth"):
        read_weights(tmp_path / "bad.pth", "export.checkpoint")


# --- losses: hand-computed oracles ----------------------------------------------------------------

def test_batch_hard_triplet_matches_a_hand_computation():
    features = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 1.0], [0.0, 5.0]])
    labels = torch.tensor([0, 0, 1, 1])
    # anchor 0: hardest positive d(0,1)=3, hardest negative min(d(0,2)=1, d(0,3)=5)=1 -> 3-1+0.3
    # anchor 1: pos 3, neg min(sqrt(10), sqrt(34)) ; anchor 2: pos 4, neg 1 ; anchor 3: pos 4, neg 5
    expected = [3 - 1 + 0.3, 3 - math.sqrt(10) + 0.3, 4 - 1 + 0.3, max(4 - 5 + 0.3, 0.0)]
    loss = batch_hard_triplet_loss(features, labels, margin=0.3)
    assert loss.item() == pytest.approx(sum(expected) / 4, rel=1e-5)
    soft = batch_hard_triplet_loss(features, labels, margin=None)
    gaps = [3 - 1, 3 - math.sqrt(10), 4 - 1, 4 - 5]
    assert soft.item() == pytest.approx(sum(math.log1p(math.exp(g)) for g in gaps) / 4, rel=1e-5)


def test_label_smoothed_cross_entropy_matches_the_definition():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
    labels = torch.tensor([0, 2])
    eps = 0.1
    log_p = torch.log_softmax(logits, 1)
    target = torch.full_like(log_p, eps / 3)
    target[0, 0] += 1 - eps
    target[1, 2] += 1 - eps
    expected = -(target * log_p).sum(1).mean()
    assert label_smoothed_cross_entropy(logits, labels, eps).item() == pytest.approx(expected.item(), rel=1e-6)
    assert label_smoothed_cross_entropy(logits, labels, 0.0).item() == pytest.approx(
        torch.nn.functional.cross_entropy(logits, labels).item(), rel=1e-6)


def test_center_loss_is_the_mean_squared_distance_to_the_class_centre():
    loss = CenterLoss(2, 2)
    with torch.no_grad():
        loss.centers.copy_(torch.tensor([[0.0, 0.0], [1.0, 1.0]]))
    value = loss(torch.tensor([[1.0, 0.0], [1.0, 3.0]]), torch.tensor([0, 1]))
    assert value.item() == pytest.approx((1.0 + 4.0) / 2)


@pytest.mark.parametrize(("sampler", "metric", "center", "active"), [
    ("softmax", "triplet", False, {"id_loss"}),
    ("triplet", "triplet", False, {"triplet_loss"}),
    ("softmax_triplet", "triplet", False, {"id_loss", "triplet_loss"}),
    ("softmax_triplet", "triplet", True, {"id_loss", "triplet_loss", "center_loss"}),
    ("softmax_triplet", "triplet_center", False, {"id_loss", "triplet_loss", "center_loss"}),
    ("softmax_triplet", "center", False, {"id_loss", "center_loss"}),
])
def test_loss_terms_follow_sampler_and_metric_loss_type(sampler, metric, center, active):
    spec = spec_with(dataset={"sampler": sampler}, model={"metric_loss_type": metric, "with_center_loss": center})
    criterion = ReidLoss(loss_terms(spec), num_classes=3, feature_dim=4)
    _, parts = criterion(torch.randn(6, 3), torch.randn(6, 4), torch.tensor([0, 0, 1, 1, 2, 2]))
    assert set(parts) == active


# --- optimisation ----------------------------------------------------------------------------------

def test_multistep_schedule_with_linear_warmup():
    spec = spec_with(optim={"warmup_iters": 10, "warmup_factor": 0.01, "lr_steps": [40, 70], "gamma": 0.1})
    assert lr_factor(spec, 0) == pytest.approx(0.01)
    assert lr_factor(spec, 5) == pytest.approx(0.01 * 0.5 + 0.5)
    assert lr_factor(spec, 10) == pytest.approx(1.0)
    assert lr_factor(spec, 39.9) == pytest.approx(1.0)
    assert lr_factor(spec, 40) == pytest.approx(0.1)
    assert lr_factor(spec, 75) == pytest.approx(0.01)


def test_constant_warmup_and_cosine_schedule():
    spec = spec_with(optim={"lr_scheduler": "cosine", "warmup_epochs": 2, "warmup_method": "constant",
                            "warmup_factor": 0.1}, train={"num_epochs": 12})
    assert lr_factor(spec, 1.5) == pytest.approx(0.1)
    assert lr_factor(spec, 2) == pytest.approx(1.0)
    assert lr_factor(spec, 7) == pytest.approx(0.01 + 0.99 * 0.5)
    assert lr_factor(spec, 12) == pytest.approx(0.01)


def test_parameter_groups_give_biases_and_classifier_their_rates():
    spec = spec_with(optim={"base_lr": 0.1, "bias_lr_factor": 2.0, "weight_decay": 1e-4,
                            "weight_decay_bias": 0.0, "large_fc_lr": True})
    model = ReidBaseline(spec_with(model={"backbone": "resnet_lite"}), 3)
    groups = parameter_groups(spec, model)
    by_id = {id(p): g for g in groups for p in g["params"]}
    assert by_id[id(model.base.conv1.weight)]["lr"] == 0.1
    assert by_id[id(model.bottleneck.weight)]["weight_decay"] == 1e-4
    assert by_id[id(model.base.bn1.bias)]["lr"] == pytest.approx(0.2)
    assert by_id[id(model.base.bn1.bias)]["weight_decay"] == 0.0
    assert by_id[id(model.classifier.weight)]["lr"] == pytest.approx(0.2)
    assert id(model.bottleneck.bias) not in by_id  # frozen
    assert isinstance(build_optimizer(spec_with(optim={"name": "SGD"}), model), torch.optim.SGD)
