"""The operations a given model (TorchScript or torch.export) may call: an allow-list.

Why an allow-list: a compiled model is code. ``torch.from_file(path, True, n).fill_(…)`` in a
``forward`` overwrites any file, ``aten::save`` writes one, ``prim::rpc_*`` reach the network and
custom namespaces run native code, and new such ops appear with each torch release. So a model
passes only if every op it calls is named here: side-effect-free tensor maths, the shape and
indexing ops around it, and the control flow and scalar/list helpers TorchScript compiles Python
into. Anything else is refused before the model's first call.

Built from what classifiers need: every op in the inlined TorchScript graphs and the torch.export
graphs of the tool's models and torchvision's classification families (ResNet, VGG, MobileNet,
EfficientNet, DenseNet, ConvNeXt, ViT, Swin, RegNet, ShuffleNet, SqueezeNet, MNASNet, GoogLeNet,
Inception, MaxViT, AlexNet), plus the elementwise, reduction, normalisation and shape ops of the
same kind. ``tests/test_model_safety.py`` checks that each name is a real operator and that none
takes a file name.
"""
from __future__ import annotations

# aten ops by family; the in-place form (``relu_``) of an allowed op is allowed too: it only
# changes tensors inside the model's own computation.
_ELEMENTWISE = """
abs absolute acos acosh add addcdiv addcmul asin asinh atan atan2 atanh bitwise_and bitwise_not
bitwise_or bitwise_xor ceil clamp clamp_max clamp_min clip cos cosh deg2rad div divide eq erf erfc
erfinv exp exp2 expm1 floor floor_divide fmod frac ge greater gt hypot isfinite isinf isnan le less
lerp lgamma log log10 log1p log2 logaddexp logical_and logical_not logical_or logical_xor lt maximum
minimum mul multiply nan_to_num ne neg negative not_equal pow rad2deg reciprocal remainder round
rsqrt rsub sgn sign sin sinc sinh sqrt square sub subtract tan tanh true_divide trunc where xlogy
"""
_REDUCTIONS = """
all amax amin aminmax any argmax argmin argsort count_nonzero cummax cummin cumprod cumsum
linalg_vector_norm logcumsumexp logsumexp max mean median min nanmean nansum norm prod sort std
std_mean sum topk var var_mean
"""
_NN = """
_adaptive_avg_pool2d _log_softmax _native_batch_norm_legit_no_training _native_multi_head_attention
_prelu_kernel _softmax adaptive_avg_pool1d adaptive_avg_pool2d adaptive_avg_pool3d
adaptive_max_pool1d adaptive_max_pool2d addbmm addmm addmv alpha_dropout avg_pool1d avg_pool2d
avg_pool3d baddbmm batch_norm bernoulli bmm celu channel_shuffle constant_pad_nd conv1d conv2d
conv3d conv_transpose1d conv_transpose2d conv_transpose3d convolution cosine_similarity dot dropout
elu embedding feature_alpha_dropout feature_dropout gelu glu group_norm hardshrink hardsigmoid
hardswish hardtanh instance_norm layer_norm leaky_relu linear log_sigmoid log_softmax logit matmul
max_pool1d max_pool2d max_pool2d_with_indices max_pool3d mish mm mv native_batch_norm
native_group_norm native_layer_norm normal one_hot pad pairwise_distance pixel_shuffle
pixel_unshuffle prelu reflection_pad1d reflection_pad2d relu relu6 replication_pad1d
replication_pad2d rms_norm rrelu scaled_dot_product_attention selu sigmoid silu softmax softplus
softshrink threshold uniform upsample_bicubic2d upsample_bilinear2d
upsample_nearest1d upsample_nearest2d upsample_nearest3d
"""
_SHAPES = """
_reshape_alias _to_copy _unsafe_view alias arange broadcast_tensors broadcast_to cat chunk clone
concat concatenate contiguous copy detach diag diagonal einsum empty empty_like expand expand_as eye
fill flatten flip fliplr flipud full full_like gather hstack index index_add index_copy index_fill
index_put index_select lift_fresh_copy linspace masked_fill masked_scatter masked_select movedim
narrow new_empty new_full new_ones new_zeros ones ones_like permute repeat repeat_interleave reshape
reshape_as roll rot90 scalar_tensor scatter scatter_add select select_scatter slice slice_scatter
split split_with_sizes squeeze stack swapaxes t take tensor tensor_split tile to transpose tril triu
type_as unbind unflatten unfold unsqueeze view view_as vstack zero zeros zeros_like
"""
# what TorchScript compiles Python scalars, lists, dicts, strings and queries into, and the
# shape helpers torch.export records
_SCRIPT_AND_SHAPE_HELPERS = """
Bool Float Int IntImplicit FloatImplicit ScalarImplicit __and__ __contains__ __derive_index
__getitem__ __is__ __isnot__ __not__ __or__ __range_length __xor__ _assert_async _assert_scalar
_assert_tensor_metadata _set_item append ceil dim extend floordiv format is_autocast_enabled
is_contiguous is_floating_point is_grad_enabled is_scripting item items keys len list numel size
stride sym_constrain_range_for_size sym_numel sym_size sym_storage_offset sym_stride values warn
"""
ATEN: frozenset[str] = frozenset(" ".join((_ELEMENTWISE, _REDUCTIONS, _NN, _SHAPES,
                                           _SCRIPT_AND_SHAPE_HELPERS)).split())

# TorchScript's structural nodes: constants, attribute access on the model itself, control flow,
# tuples/lists/dicts, type refinement and errors. Not here on purpose: CallFunction/CallMethod
# (left after inlining only for calls that cannot be resolved), CreateObject, fork, Enter/Exit,
# PythonOp, rpc_*, and Print (a model's output is its logits; text would mix into the tool's own).
PRIM: frozenset[str] = frozenset("""
Constant DictConstruct GetAttr If ImplicitTensorToNum ListConstruct ListUnpack Loop NumToTensor
RaiseException SetAttr TupleConstruct TupleIndex TupleUnpack Uninitialized abs
data device dtype is_cpu is_cuda is_nested is_quantized isinstance layout max min requires_grad
type unchecked_cast unchecked_unwrap_optional
""".split())

# Python functions torch.export records for symbolic sizes (``x.size(0) * 3``)
PYTHON: frozenset[str] = frozenset("""
_operator.add _operator.sub _operator.mul _operator.floordiv _operator.truediv _operator.mod
_operator.neg _operator.pow _operator.eq _operator.ne _operator.lt _operator.le _operator.gt
_operator.ge _operator.getitem torch.sym_float torch.sym_int torch.sym_max torch.sym_min
torch.sym_not math.ceil math.floor
""".split())


def is_allowed(op: str) -> bool:
    """``aten::conv2d``, ``aten::relu_``, ``prim::If`` or ``_operator.mul``: on the allow-list?"""
    namespace, sep, name = op.partition("::")
    if not sep:
        return op in PYTHON
    if namespace == "prim":
        return name in PRIM
    if namespace != "aten":
        return False  # custom namespaces run native code nobody here has read
    in_place = name.endswith("_") and not name.endswith("__")
    return name in ATEN or (in_place and name[:-1] in ATEN)
