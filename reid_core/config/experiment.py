"""The experiment spec: TAO ``re_identification`` sections, keys and defaults.

Keys and defaults match TAO's packaged spec templates, so a TAO spec loads unchanged.
Keys marked ``fixed`` belong to TAO's transformer backbones; they are accepted at their
defaults and refused when changed, because the backbones here are ResNets.

The AutoML search set (``automl_enabled=True``) follows ReID practice (BoT / strong-baseline,
fast-reid's HPO): learning rate and weight decay on a log scale, optimizer, warm-up and LR
milestones relative to the epoch budget, triplet margin, label smoothing, the P x K batch
shape, random erasing, and the center loss with its weight. Validity bounds are wide (what a
user may write); ``search_*``/``relative_max`` narrow what AutoML samples. The architecture keys a
cost-aware study adds (``automl_cost``) are the backbone, the input size and the embedding size.
Keys TAO does not have are ours: ``dataset.val_split``, ``train.amp``,
``train.optim.lr_scheduler``, ``inference.top_k``, and the ``tune_reranking`` action's section.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List

from omegaconf import MISSING

from schemas.fields import (
    bool_field,
    float_field,
    int_field,
    list_field,
    section_field,
    str_field,
)

BACKBONES = ("resnet_lite", "resnet_18", "resnet_34", "resnet_50")  # by cost, for an ordered search
ACTIONS = ("train", "evaluate", "inference", "export", "tune_reranking")


@dataclass
class WandbConfig:
    enable: bool = bool_field(True, "Log to Weights & Biases when the wandb package is installed.", title="Enable")
    project: str = str_field("TAO Toolkit", "Weights & Biases project name.", title="Project")
    entity: str = str_field("", "Weights & Biases entity (team or user).", title="Entity")
    group: str = str_field("", "Weights & Biases run group.", title="Group")
    tags: List[str] = list_field(["tao-toolkit"], "Weights & Biases run tags.", title="Tags", automl_enabled=False)
    reinit: bool = bool_field(False, "Allow several wandb runs in one process.", title="Reinit")
    sync_tensorboard: bool = bool_field(False, "Sync TensorBoard logs to wandb.", title="Sync TensorBoard")
    save_code: bool = bool_field(False, "Save the code to wandb.", title="Save code")
    name: str = str_field("TAO Toolkit Training", "Weights & Biases run name.", title="Name")
    run_id: str = str_field("", "Weights & Biases run id to resume.", title="Run id")


@dataclass
class ModelConfig:
    backbone: str = str_field(
        "resnet_50", "Backbone network. resnet_lite is a narrow ResNet that trains usefully on a CPU.",
        title="Backbone Type", options=BACKBONES, popular=True, ordered=True, automl_cost=True,
    )
    last_stride: int = int_field(1, "Stride of the last backbone stage (1 keeps a larger feature map).",
                                 title="Last Stride", minimum=1, maximum=2)
    pretrain_choice: str = str_field(
        "imagenet", "What model.pretrained_model_path holds: 'imagenet' backbone weights or a whole "
        "ReID model ('self').", title="Pretrain Choice", options=("imagenet", "self"),
    )
    pretrained_model_path: str = str_field("", "Local pretrained weights (torchvision or TAO state dict); "
                                               "empty trains from scratch.", title="Pretrained Model Path", io="file", io_optional=True)
    input_channels: int = int_field(3, "Number of input channels.", title="Input Channels", minimum=3, maximum=3)
    input_width: int = int_field(128, "Input image width: model.input_height / 2 (Market-1501's aspect ratio).",
                                 title="Input Width", minimum=16, maximum=1024, math_cond="/ 2",
                                 depends_on="model.input_height", automl_cost=True)
    input_height: int = int_field(256, "Input image height.", title="Input Height", minimum=32, maximum=2048,
                                  automl_cost=True, search_options=(64, 128, 192, 256, 320, 384))
    neck: str = str_field("bnneck", "Neck after global pooling: BNNeck or none.", title="Neck", options=("bnneck", "no"))
    feat_dim: int = int_field(256, "Embedding size when model.reduce_feat_dim is on.", title="Feature Dimension",
                              minimum=32, maximum=2048, depends_on="model.reduce_feat_dim", automl_cost=True,
                              search_options=(64, 128, 256))  # at most resnet_lite's width: always a reduction
    neck_feat: str = str_field("after", "Embedding taken before or after the BNNeck at test time.",
                               title="Neck Feature", options=("before", "after"))
    metric_loss_type: str = str_field(
        "triplet", "Metric loss: triplet, center, or both.", title="Metric Loss Type",
        options=("triplet", "center", "triplet_center"),
    )
    with_center_loss: bool = bool_field(False, "Add the center loss (also implied by metric_loss_type with center).",
                                        title="With Center Loss", automl_enabled=True, parent_param=True)
    with_flip_feature: bool = bool_field(False, "Average embeddings of the image and its horizontal flip at test time.",
                                         title="With Flip Feature")
    label_smooth: bool = bool_field(True, "Label smoothing (epsilon 0.1) in the ID loss.", title="Label Smoothing",
                                    automl_enabled=True)
    pretrain_hw_ratio: float = float_field(2.0, "Height/width ratio of transformer pretraining.", title="Pretrain HW Ratio",
                                           minimum=2.0, maximum=2.0, fixed=True)
    id_loss_type: str = str_field("softmax", "Type of ID loss used.", title="ID Loss Type", options=("softmax",))
    id_loss_weight: float = float_field(1.0, "Weight of the ID loss.", title="ID Loss Weight", minimum=0.0, maximum=10.0)
    triplet_loss_weight: float = float_field(1.0, "Weight of the triplet loss.", title="Triplet Loss Weight",
                                             minimum=0.0, maximum=10.0)
    no_margin: bool = bool_field(False, "Soft-margin triplet loss instead of a fixed margin.", title="No Margin")
    cos_layer: bool = bool_field(False, "Cosine-margin (ArcFace) classifier using train.optim.cosine_scale/margin.",
                                 title="Cosine Layer")
    dropout_rate: float = float_field(0.0, "Dropout before the classifier.", title="Dropout Rate",
                                      minimum=0.0, maximum=0.9)
    reduce_feat_dim: bool = bool_field(False, "Project the pooled feature to model.feat_dim.", title="Reduce Feature Dim",
                                       parent_param=True, automl_cost=True)
    drop_path: float = float_field(0.1, "Drop path probability.", title="Drop Path", minimum=0.0, maximum=1.0,
                                   fixed=True)
    drop_out: float = float_field(0.0, "Dropout probability.", title="Drop Out", minimum=0.0, maximum=1.0,
                                  fixed=True)
    att_drop_rate: float = float_field(0.0, "Attention dropout rate.", title="Attention Drop Rate",
                                       minimum=0.0, maximum=1.0, fixed=True)
    stride_size: List[int] = list_field([16, 16], "Patch stride of the transformer stem.", title="Stride Size",
                                        automl_enabled=False, fixed=True, list_length=2)
    gem_pooling: bool = bool_field(False, "Generalized-mean pooling instead of average pooling.", title="GEM Pooling")
    stem_conv: bool = bool_field(False, "Convolutional stem for the transformer.", title="Stem Conv",
                                 fixed=True)
    jpm: bool = bool_field(False, "Jigsaw patch module.", title="JPM", fixed=True)
    shift_num: int = int_field(5, "Shift number of the jigsaw patch module.", title="Shift Number",
                               minimum=5, maximum=5, fixed=True)
    shuffle_group: int = int_field(2, "Shuffle groups of the jigsaw patch module.", title="Shuffle Group",
                                   minimum=2, maximum=2, fixed=True)
    devide_length: int = int_field(4, "Length for division in the re-arrangement process.", title="Divide Length",
                                   minimum=4, maximum=4, fixed=True)
    re_arrange: bool = bool_field(True, "Re-arrange patches in the jigsaw patch module.", title="Re-arrange",
                                  fixed=True)
    sie_coe: float = float_field(3.0, "Side-information embedding coefficient.", title="SIE Coefficient",
                                 minimum=0.0, maximum=10.0, fixed=True)
    sie_camera: bool = bool_field(False, "Camera side-information embedding.", title="SIE Camera",
                                  fixed=True)
    sie_view: bool = bool_field(False, "View side-information embedding.", title="SIE View", fixed=True)
    semantic_weight: float = float_field(1.0, "Semantic weight of SOLIDER-style transformers.", title="Semantic Weight",
                                         minimum=0.0, maximum=1.0, fixed=True)


@dataclass
class DatasetConfig:
    train_dataset_dir: str = str_field("", "Training images: a Market-1501 folder or a .tar.gz of one.",
                                       title="Train Dataset Directory", automl_enabled=False, io="folder")
    test_dataset_dir: str = str_field("", "Gallery images: a folder or a .tar.gz.",
                                      title="Test Dataset Directory", automl_enabled=False, io="folder")
    query_dataset_dir: str = str_field("", "Query images: a folder or a .tar.gz.",
                                       title="Query Dataset Directory", automl_enabled=False, io="folder")
    num_classes: int = int_field(751, "Number of training identities (taken from the data; a different value "
                                      "only warns).", title="Number of Classes", minimum=1, popular=True,
                                 automl_enabled=False)
    batch_size: int = int_field(64, "Training batch size per GPU: P >= 2 identities x dataset.num_instances images.",
                                title="Batch Size", minimum=2, maximum=4096, popular=True, automl_enabled=True,
                                depends_on="dataset.num_instances", multiple_of="dataset.num_instances",
                                math_cond="> depends_on", search_min=16, search_max=128)
    val_batch_size: int = int_field(128, "Batch size for validation, evaluation and inference.",
                                    title="Validation Batch Size", minimum=1, maximum=8192, popular=True)
    num_workers: int = int_field(8, "Data loading worker processes (0 loads in the training process).",
                                 title="Number of Workers", minimum=0, maximum=128, popular=True, automl_enabled=False)
    pixel_mean: List[float] = list_field([0.485, 0.456, 0.406], "Per-channel mean for normalisation.",
                                         title="Pixel Mean", automl_enabled=False, list_length=3,
                                         item_minimum=0.0, item_maximum=1.0)
    pixel_std: List[float] = list_field([0.226, 0.226, 0.226], "Per-channel standard deviation for normalisation.",
                                        title="Pixel Std", automl_enabled=False, list_length=3,
                                        item_minimum=1e-3, item_maximum=1.0)
    padding: int = int_field(10, "Zero padding before the random crop.", title="Padding", minimum=0, maximum=64)
    prob: float = float_field(0.5, "Probability of a horizontal flip.", title="Flip Probability",
                              minimum=0.0, maximum=1.0)
    re_prob: float = float_field(0.5, "Probability of random erasing.", title="Random Erasing Probability",
                                 minimum=0.0, maximum=1.0, automl_enabled=True, search_min=0.0, search_max=0.8)
    sampler: str = str_field(
        "softmax_triplet", "Loss/sampler combination: softmax (ID loss, random batches), triplet or "
        "softmax_triplet (P x K identity batches).", title="Sampler",
        options=("softmax", "triplet", "softmax_triplet"),
    )
    num_instances: int = int_field(4, "Images per identity in a batch (K of P x K).", title="Number of Instances",
                                   minimum=2, maximum=64, popular=True, automl_enabled=True,
                                   search_options=(2, 4, 8, 16))
    val_split: float = float_field(
        0.0, "Fraction of training identities carved out (disjoint) as a validation query/gallery for model "
        "selection; 0 validates on the given query/test sets as TAO does.", title="Validation Split",
        minimum=0.0, maximum=0.5, automl_enabled=False,
    )


@dataclass
class CudnnConfig:
    benchmark: bool = bool_field(False, "cuDNN benchmark mode.", title="Benchmark")
    deterministic: bool = bool_field(True, "Deterministic cuDNN kernels.", title="Deterministic")


@dataclass
class OptimConfig:
    name: str = str_field("Adam", "Optimizer.", title="Optimizer Name", options=("SGD", "Adam", "AdamW"),
                          option_weights=(0.2, 0.45, 0.35), automl_enabled=True)
    lr_monitor: str = str_field("val_loss", "Metric monitored for learning-rate logging (kept for TAO "
                                            "compatibility).", title="LR Monitor Metric")
    lr_steps: List[int] = list_field([40, 70], "Epochs at which the learning rate is multiplied by gamma.",
                                     value_type="list_2", title="LR Decay Steps", item_minimum=1,
                                     automl_enabled=True, depends_on="train.num_epochs")
    gamma: float = float_field(0.1, "Factor by which the learning rate will decrease.", title="LR Decay Factor",
                               minimum=0.0, maximum=1.0, exclusive_minimum=True)
    bias_lr_factor: float = float_field(1.0, "Learning rate factor for bias parameters.", title="Bias LR Factor",
                                        minimum=0.0, maximum=10.0)
    weight_decay: float = float_field(0.0005, "Weight decay.", title="Weight Decay", minimum=0.0, maximum=0.1,
                                      automl_enabled=True, scale="log", search_min=1e-5, search_max=1e-2)
    weight_decay_bias: float = float_field(0.0005, "Weight decay of bias parameters.", title="Weight Decay for Bias",
                                           minimum=0.0, maximum=0.1)
    warmup_factor: float = float_field(0.01, "Initial learning rate as a factor of the base learning rate during "
                                             "warm-up.", title="Warmup Factor", minimum=0.0, maximum=1.0)
    warmup_iters: int = int_field(10, "Warm-up length in epochs for the multistep schedule (TAO's name).",
                                  title="Warmup Iterations", minimum=0, maximum=1000, automl_enabled=True,
                                  depends_on="train.num_epochs", search_min=0,
                                  relative_max=0.3)
    warmup_epochs: int = int_field(20, "Warm-up length in epochs for the cosine schedule.", title="Warmup Epochs",
                                   minimum=0, maximum=1000)
    warmup_method: str = str_field("linear", "Warm-up shape.", title="Warmup Method", options=("linear", "constant"))
    base_lr: float = float_field(0.00035, "Base learning rate.", title="Base Learning Rate", minimum=0.0,
                                 maximum=1.0, exclusive_minimum=True, automl_enabled=True, scale="log",
                                 search_min=1e-4, search_max=3e-2)
    momentum: float = float_field(0.9, "SGD momentum (beta1 for Adam/AdamW).", title="Momentum",
                                  minimum=0.0, maximum=0.999)
    center_loss_weight: float = float_field(0.0005, "Weight of the center loss.", title="Center Loss Weight",
                                            minimum=0.0, maximum=1.0, exclusive_minimum=True, automl_enabled=True,
                                            depends_on="model.with_center_loss", scale="log", search_min=1e-4,
                                            search_max=1e-2)
    center_lr: float = float_field(0.5, "Learning rate of the center-loss centres (own SGD optimizer).",
                                   title="Center Learning Rate", minimum=0.0, maximum=1.0, exclusive_minimum=True)
    triplet_loss_margin: float = float_field(0.3, "Margin of the triplet loss.", title="Triplet Loss Margin",
                                             minimum=0.0, maximum=2.0, automl_enabled=True, search_min=0.1,
                                             search_max=1.0)
    large_fc_lr: bool = bool_field(False, "Twice the learning rate for the classifier.", title="Large FC Learning Rate")
    cosine_margin: float = float_field(0.5, "Additive angular margin of the cosine classifier.",
                                       title="Cosine Margin", minimum=0.0, maximum=1.0)
    cosine_scale: float = float_field(30.0, "Scale of the cosine classifier logits.", title="Cosine Scale",
                                      minimum=1.0, maximum=128.0)
    trp_l2: bool = bool_field(False, "L2-normalise features inside the triplet loss.", title="Triplet L2 Normalization")
    lr_scheduler: str = str_field("multistep", "Learning-rate schedule after warm-up: multistep (lr_steps, gamma) "
                                               "or cosine.", title="LR Scheduler", options=("multistep", "cosine"))


@dataclass
class TrainConfig:
    num_gpus: int = int_field(1, "Number of GPUs (CPU when none is present).", title="Number of GPUs",
                              minimum=1, maximum=64, popular=True, automl_enabled=False)
    gpu_ids: List[int] = list_field([0], "GPU indices to train on.", title="GPU IDs", popular=True,
                                    automl_enabled=False, item_minimum=0)
    num_nodes: int = int_field(1, "Number of nodes.", title="Number of Nodes", minimum=1, maximum=1024,
                               popular=True, automl_enabled=False)
    seed: int = int_field(1234, "Random seed; -1 picks one.", title="Seed", minimum=-1, maximum=2**31 - 1,
                          automl_enabled=False)
    cudnn: CudnnConfig = section_field(CudnnConfig, "cuDNN settings.", title="cuDNN", automl_enabled=False)
    num_epochs: int = int_field(10, "Number of training epochs.", title="Number of Epochs", minimum=1,
                                maximum=100000, popular=True)
    checkpoint_interval: int = int_field(1, "Save a checkpoint every N epochs (or steps).",
                                         title="Checkpoint Interval", minimum=1, popular=True, automl_enabled=False)
    checkpoint_interval_unit: str = str_field("epoch", "Unit of train.checkpoint_interval.",
                                              title="Checkpoint Interval Unit", options=("epoch", "step"),
                                              automl_enabled=False)
    validation_interval: int = int_field(1, "Validate every N epochs.", title="Validation Interval", minimum=1,
                                         popular=True, automl_enabled=False)
    resume_training_checkpoint_path: str = str_field("", "Checkpoint to resume training from.",
                                                     title="Resume Checkpoint", automl_enabled=False, io="file", io_optional=True)
    results_dir: str = str_field("", "Training outputs; default <results_dir>/train.", title="Results Directory",
                                 automl_enabled=False)
    optim: OptimConfig = section_field(OptimConfig, "Training optimization config.", title="Optimization config")
    grad_clip: float = float_field(0.0, "Clip the gradient norm to this value; 0 disables.", title="Gradient Clip",
                                   minimum=0.0, maximum=1000.0)
    amp: bool = bool_field(True, "Mixed precision on GPU (ignored on CPU).", title="Mixed Precision",
                           automl_enabled=False)


@dataclass
class EvaluateConfig:
    num_gpus: int = int_field(1, "The number of GPUs to run the evaluation job.", title="Number of GPUs",
                              minimum=1, popular=True, automl_enabled=False)
    gpu_ids: List[int] = list_field([0], "GPU indices to evaluate on.", title="GPU IDs", popular=True,
                                    automl_enabled=False, item_minimum=0)
    num_nodes: int = int_field(1, "Number of nodes.", title="Number of nodes", minimum=1, popular=True,
                               automl_enabled=False)
    checkpoint: str = str_field(MISSING, "Path to the checkpoint used for evaluation.", title="Checkpoint path",
                                automl_enabled=False, io="file")
    trt_engine: str = str_field("", "TensorRT engine (not supported here; must stay empty).", title="TensorRT Engine",
                                automl_enabled=False)
    results_dir: str = str_field("", "Evaluation outputs; default <results_dir>/evaluate.", title="Results directory",
                                 automl_enabled=False)
    batch_size: int = int_field(-1, "Batch size; -1 uses dataset.val_batch_size.", title="batch size", minimum=-1,
                                automl_enabled=False)
    output_sampled_matches_plot: str = str_field("", "PNG of sampled queries and their top matches; default "
                                                     "<evaluate results>/sampled_matches.png.",
                                                 title="Output Sampled Matches Plot", automl_enabled=False)
    output_cmc_curve_plot: str = str_field("", "PNG of the CMC curve; default <evaluate results>/cmc_curve.png.",
                                           title="Output CMC Curve Plot", automl_enabled=False)
    test_dataset: str = str_field("", "Gallery images (folder or .tar.gz); default dataset.test_dataset_dir.",
                                  title="Test Dataset Directory", automl_enabled=False, io="folder")
    query_dataset: str = str_field("", "Query images (folder or .tar.gz); default dataset.query_dataset_dir.",
                                   title="Query Dataset Directory", automl_enabled=False, io="folder")


@dataclass
class InferenceConfig:
    num_gpus: int = int_field(1, "The number of GPUs to run inference.", title="Number of GPUs", minimum=1,
                              popular=True, automl_enabled=False)
    gpu_ids: List[int] = list_field([0], "GPU indices for inference.", title="GPU IDs", popular=True,
                                    automl_enabled=False, item_minimum=0)
    num_nodes: int = int_field(1, "Number of nodes.", title="Number of nodes", minimum=1, popular=True,
                               automl_enabled=False)
    checkpoint: str = str_field(MISSING, "Path to the checkpoint used for inference.", title="Checkpoint path",
                                automl_enabled=False, io="file")
    trt_engine: str = str_field("", "TensorRT engine (not supported here; must stay empty).", title="TensorRT Engine",
                                automl_enabled=False)
    results_dir: str = str_field("", "Inference outputs; default <results_dir>/inference.", title="Results directory",
                                 automl_enabled=False)
    batch_size: int = int_field(-1, "Batch size; -1 uses dataset.val_batch_size.", title="batch size", minimum=-1,
                                automl_enabled=False)
    output_file: str = str_field("", "JSON file with every image's embedding; default "
                                     "<inference results>/inference.json.", title="Output File",
                                 automl_enabled=False)
    test_dataset: str = str_field("", "Gallery images (folder or .tar.gz); default dataset.test_dataset_dir.",
                                  title="Test Dataset Directory", automl_enabled=False, io="folder")
    query_dataset: str = str_field("", "Query images (folder or .tar.gz); default dataset.query_dataset_dir.",
                                   title="Query Dataset Directory", automl_enabled=False, io="folder")
    top_k: int = int_field(0, "Top-k gallery matches written for each query; 0 writes embeddings only.",
                           title="Top K", minimum=0, maximum=1000, automl_enabled=False)


@dataclass
class ExportConfig:
    results_dir: str = str_field("", "Export outputs; default <results_dir>/export.", title="Results directory",
                                 automl_enabled=False)
    checkpoint: str = str_field("", "Checkpoint to export.", title="Checkpoint path", automl_enabled=False, io="file")
    onnx_file: str = str_field("", "ONNX file to write; default <export results>/reid.onnx.", title="ONNX File",
                               automl_enabled=False)
    gpu_id: int = int_field(0, "GPU index used for export.", title="GPU ID", minimum=0, automl_enabled=False)


@dataclass
class TuneRerankingConfig:
    checkpoint: str = str_field("", "Checkpoint whose validation features are re-ranked.", title="Checkpoint path",
                                automl_enabled=False, io="file")
    results_dir: str = str_field("", "Tuning outputs; default <results_dir>/tune_reranking.", title="Results directory",
                                 automl_enabled=False)
    gpu_id: int = int_field(0, "GPU index used for feature extraction.", title="GPU ID", minimum=0,
                            automl_enabled=False)
    batch_size: int = int_field(-1, "Batch size; -1 uses dataset.val_batch_size (keep it equal to evaluate's so "
                                    "evaluate reproduces the tuned scores).", title="batch size", minimum=-1,
                                automl_enabled=False)
    metric: str = str_field("mAP", "Validation KPI that chooses the re-ranking values (higher is better).",
                            title="Metric", options=("mAP", "cmc_rank_1", "cmc_rank_5", "cmc_rank_10", "mINP"),
                            automl_enabled=False)
    k1_values: List[int] = list_field([5, 10, 15, 20, 25, 30], "Values of re_ranking.k1 tried, each with every k2 "
                                      "and lambda value; no re-ranking is always a candidate too.", title="K1 Values",
                                      automl_enabled=False, item_minimum=1, item_maximum=100)
    k2_values: List[int] = list_field([1, 2, 3, 4, 6, 8], "Values of re_ranking.k2 tried.", title="K2 Values",
                                      automl_enabled=False, item_minimum=1, item_maximum=50)
    lambda_values: List[float] = list_field([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
                                            "Values of re_ranking.lambda_value tried (1.0 would rank as without "
                                            "re-ranking).", title="Lambda Values", automl_enabled=False,
                                            item_minimum=0.0, item_maximum=1.0)


@dataclass
class ReRankingConfig:
    re_ranking: bool = bool_field(False, "k-reciprocal re-ranking of the query-gallery distances.",
                                  title="Re-ranking")
    k1: int = int_field(20, "k1 of k-reciprocal re-ranking.", title="K1", minimum=1, maximum=100, popular=True)
    k2: int = int_field(6, "k2 (query expansion) of k-reciprocal re-ranking.", title="K2", minimum=1, maximum=50,
                        popular=True)
    lambda_value: float = float_field(0.3, "Weight of the original distance in the re-ranked distance.",
                                      title="Lambda Value", minimum=0.0, maximum=1.0)
    max_rank: int = int_field(10, "Matches shown per query in the sampled-matches plot.", title="Max Rank",
                              minimum=1, maximum=50, popular=True)
    num_query: int = int_field(10, "Queries shown in the sampled-matches plot.", title="Number of Queries",
                               minimum=1, maximum=100, popular=True)


@dataclass
class ExperimentConfig:
    model_name: str = str_field("", "Name of the model.", title="Model Name", automl_enabled=False)
    encryption_key: str = str_field("", "Accepted for TAO compatibility; checkpoints are not encrypted.",
                                    title="Encryption Key", automl_enabled=False)
    results_dir: str = str_field("", "Directory for every output of an action.", title="Results directory",
                                 automl_enabled=False)
    wandb: WandbConfig = section_field(WandbConfig, "Weights & Biases logging.", title="Wandb", automl_enabled=False)
    model: ModelConfig = section_field(ModelConfig, "Configurable parameters to construct the model for a "
                                                    "Re-Identification experiment.", title="Model")
    dataset: DatasetConfig = section_field(DatasetConfig, "Configurable parameters to construct the dataset for "
                                                          "a Re-Identification experiment.", title="Dataset")
    train: TrainConfig = section_field(TrainConfig, "Configurable parameters to construct the trainer for a "
                                                    "Re-Identification experiment.", title="Train")
    evaluate: EvaluateConfig = section_field(EvaluateConfig, "Configurable parameters to construct the evaluator "
                                                             "for a Re-Identification experiment.",
                                             title="Evaluate", automl_enabled=False, actions=("evaluate",))
    inference: InferenceConfig = section_field(InferenceConfig, "Configurable parameters to construct the "
                                                                "inferencer for a Re-Identification experiment.",
                                               title="Inference", automl_enabled=False, actions=("inference",))
    export: ExportConfig = section_field(ExportConfig, "Configurable parameters to export a Re-Identification "
                                                       "model.", title="Export", automl_enabled=False,
                                         actions=("export",))
    re_ranking: ReRankingConfig = section_field(ReRankingConfig, "Re-ranking and visualisation settings.",
                                                title="Re-ranking", automl_enabled=False)
    tune_reranking: TuneRerankingConfig = section_field(
        TuneRerankingConfig, "Choosing the re_ranking values on the validation split carved from the training "
        "identities.", title="Tune Re-ranking", automl_enabled=False, actions=("tune_reranking",),
    )
