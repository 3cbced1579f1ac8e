"""The check a ``.pt2`` archive passes before torch reads it (see ``exported.py``): every record
one a plain torch.export program has, and every text of its JSON that torch would turn into code
(shape expressions and guards, names, operator names, pytree specs) held to what torch.export
writes. ``check_program`` raises ``Refused`` with a sentence saying what was found."""

from __future__ import annotations

import ast
import io
import json
import keyword
import re
import typing
from functools import lru_cache

import torch

class Refused(Exception):
    """What is refused, as the end of the sentence "'x.pt2' was refused: ..."."""


def _shown(text: object) -> str:
    text = str(text)
    return repr(text if len(text) <= 60 else text[:57] + "...")


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# module / tensor names ('' = the root): dotted, no quote, no dunder (setattr follows them)
_PATH = re.compile(r"(?:(?!__)[A-Za-z0-9_@-]+(?:\.(?!__)[A-Za-z0-9_@-]+)*)?")
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_SYMBOL = re.compile(r"[a-z]{1,4}[0-9]{1,9}")  # s0, s77, u3, zf1: the symbols torch creates
_SPEC_KEY = re.compile(r"[A-Za-z0-9_. -]{0,200}")

_FIXED_RECORDS = frozenset({
    "archive_format", "archive_version", "byteorder", ".data/version", ".data/serialization_id",
    "models/model.json", "data/weights/model_weights_config.json",
    "data/constants/model_constants_config.json", "data/sample_inputs/model.pt"})
_RECORD = re.compile(r"data/weights/weight_[0-9]{1,9}|data/constants/tensor_[0-9]{1,9}"
                     r"|extra/[A-Za-z0-9_.-]{1,200}")

# sympy names torch.export's shape expressions use (srepr, and the infix text older torch wrote);
# each is a sympy class or one of torch's sympy functions in the reader's namespace.
_SYMPY_CALLS = frozenset({
    "Symbol", "Integer", "Rational", "Float", "Add", "Mul", "Pow", "Max", "Min", "Abs", "Eq",
    "Ne", "Lt", "Le", "Gt", "Ge", "Equality", "Unequality", "StrictLessThan", "LessThan",
    "StrictGreaterThan", "GreaterThan", "And", "Or", "Not", "floor", "ceiling",
    "FloorDiv", "ModularIndexing", "Where", "PythonMod", "Mod", "CleanDiv", "CeilToInt",
    "FloorToInt", "CeilDiv", "LShift", "RShift", "PowByNatural", "FloatPow", "FloatTrueDiv",
    "IntTrueDiv", "IsNonOverlappingAndDenseIndicator", "TruncToFloat", "TruncToInt", "RoundToInt",
    "RoundDecimal", "ToFloat", "Identity"})
_SYMPY_NAMES = frozenset({"oo", "nan", "true", "false"})
_POWERS = frozenset({"Pow", "PowByNatural", "FloatPow", "LShift", "RShift"})
_FLOAT_TEXT = re.compile(r"-?[0-9]{1,40}(?:\.[0-9]{0,40})?(?:e[+-]?[0-9]{1,4})?")
_BIG = 1 << 64

# ATen operations that reach past tensors (files, raw storage) or skip their own checks.
_DENIED_OPS = re.compile(
    r"from_file|set_|set_data|_print|record_stream|_copy_from.*|.*_tensor_unsafe|_unsafe_index.*"
    r"|_unsafe_masked_index.*|.*sparse.*|.*nested.*|.*mkldnn.*|.*quantized.*|_make_.*|_cufft_.*"
    r"|_cudnn_.*|_fw_primal.*|.*pin_memory|.*resize.*")

_GUARD_CALLS = frozenset({"abs", "max", "min", "round", "int", "float"})
_GUARD_ATTRS = frozenset({
    ("math", n) for n in ("floor", "ceil", "trunc", "sqrt", "isnan", "log2", "cos", "sin", "tan",
                          "cosh", "sinh", "tanh", "acos", "asin", "atan")} | {
    ("torch", n) for n in ("sym_float", "sym_int", "sym_max", "sym_min", "_sym_sqrt", "sym_not",
                           "sym_ite")})
_TENSOR_METHODS = frozenset({"size", "stride", "storage_offset", "dim", "numel"})


def _small_int(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Integer" \
            and len(node.args) == 1 and not node.keywords:
        return _small_int(node.args[0])
    return isinstance(node, ast.Constant) and type(node.value) is int and abs(node.value) <= 64


def _expr_node(node: ast.AST) -> bool:
    """Whether ``node`` is a shape expression as torch writes one (sympy's srepr, or infix)."""
    if isinstance(node, ast.Constant):
        return type(node.value) in (int, float, bool) and abs(node.value) < _BIG
    if isinstance(node, ast.Name):
        return node.id in _SYMPY_NAMES or bool(_SYMBOL.fullmatch(node.id))
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.op, (ast.USub, ast.UAdd)) and _expr_node(node.operand)
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Pow):
            return _expr_node(node.left) and _small_int(node.right)
        return isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod)) \
            and _expr_node(node.left) and _expr_node(node.right)
    if isinstance(node, ast.Compare):
        return len(node.ops) == 1 and isinstance(node.ops[0], (ast.Lt, ast.LtE, ast.Gt, ast.GtE,
                                                               ast.Eq, ast.NotEq)) \
            and _expr_node(node.left) and _expr_node(node.comparators[0])
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in _SYMPY_CALLS):
        return False
    name, args, keywords = node.func.id, node.args, node.keywords
    if name == "Symbol":
        return len(args) == 1 and isinstance(args[0], ast.Constant) \
            and isinstance(args[0].value, str) and bool(_SYMBOL.fullmatch(args[0].value)) \
            and all(k.arg in _assumptions() and isinstance(k.value, ast.Constant)
                    and type(k.value.value) is bool for k in keywords)
    if name == "Float":
        return len(args) == 1 and isinstance(args[0], ast.Constant) and (
            type(args[0].value) in (int, float) or isinstance(args[0].value, str)
            and bool(_FLOAT_TEXT.fullmatch(args[0].value))) \
            and all(k.arg == "precision" and isinstance(k.value, ast.Constant)
                    and type(k.value.value) is int and 0 < k.value.value <= 1000 for k in keywords)
    if keywords:
        return False
    if name in ("Integer", "Rational"):
        return 1 <= len(args) <= 2 and all(
            isinstance(a.operand if isinstance(a, ast.UnaryOp) else a, ast.Constant)
            and _expr_node(a) for a in args)
    if name in _POWERS and not (len(args) == 2 and _small_int(args[1])):
        return False
    return all(_expr_node(a) for a in args)


@lru_cache(maxsize=1)
def _assumptions() -> frozenset[str]:
    from sympy.core.assumptions import _assume_defined

    return frozenset(_assume_defined)


def _parsed(text: str, chars: str, limit: int) -> ast.AST | None:
    if len(text) > limit or not re.fullmatch(chars, text):
        return None
    try:
        return ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _check_expr(text: str) -> None:
    tree = _parsed(text, r"[A-Za-z0-9_ ().,'=+*/%<>-]*", 20_000)
    if tree is None or not _expr_node(tree):
        raise Refused(f"its shape expression {_shown(text)} is not one torch.export writes.")


def _guard_node(node: ast.AST) -> bool:
    """Whether ``node`` is a shape guard as torch writes one: L['x'].size()[0] <= 64 and the like."""
    if isinstance(node, ast.Constant):
        return type(node.value) in (int, float, bool) and abs(node.value) < _BIG
    if isinstance(node, ast.Name):
        return node.id == "inf"
    if isinstance(node, ast.Attribute):
        return isinstance(node.value, ast.Name) and node.value.id == "math" \
            and node.attr in ("inf", "nan")
    if isinstance(node, ast.Compare):
        return all(isinstance(op, (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE))
                   for op in node.ops) and all(map(_guard_node, [node.left, *node.comparators]))
    if isinstance(node, ast.BoolOp):
        return all(map(_guard_node, node.values))
    if isinstance(node, ast.UnaryOp):
        return _guard_node(node.operand)
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, (ast.Pow, ast.LShift, ast.RShift)):
            return _guard_node(node.left) and _small_int(node.right)
        return isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod,
                                    ast.BitAnd, ast.BitOr)) \
            and _guard_node(node.left) and _guard_node(node.right)
    if isinstance(node, ast.Subscript):  # L['x'].size()[0]
        call = node.value
        return isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) \
            and call.func.attr in ("size", "stride") and not call.args and not call.keywords \
            and _input_path(call.func.value) and _small_int(node.slice)
    if isinstance(node, ast.Call) and not node.keywords:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in _TENSOR_METHODS \
                and _input_path(func.value):
            return all(map(_small_int, node.args))
        allowed = (isinstance(func, ast.Name) and func.id in _GUARD_CALLS) or (
            isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
            and (func.value.id, func.attr) in _GUARD_ATTRS)
        return allowed and all(map(_guard_node, node.args))
    return False


def _input_path(node: ast.AST) -> bool:
    """L['x'], L['flat_args'][0], L['x']['k']: an input of the program."""
    if not isinstance(node, ast.Subscript):
        return False
    key = node.slice
    ok = isinstance(key, ast.Constant) and (
        isinstance(key.value, str) and bool(_IDENT.fullmatch(key.value))
        or type(key.value) is int and 0 <= key.value < 10_000)
    inner = node.value
    return ok and ((isinstance(inner, ast.Name) and inner.id == "L") or _input_path(inner))


def _check_guard(text: str) -> None:
    tree = _parsed(text, r"[A-Za-z0-9_ ()\[\]'.,+*/%<>=!&|-]*", 5_000)
    if tree is None or not _guard_node(tree):
        raise Refused(f"its shape guard {_shown(text)} is not one torch.export writes.")


@lru_cache(maxsize=1)
def _sym_ops() -> frozenset[str]:
    from torch._export.serde.serialize import _SYM_OPS

    return frozenset(f"{op.__module__}.{op.__name__}" for op in _SYM_OPS)


def _check_target(text: str) -> None:
    if text in _sym_ops():  # the symbolic-integer arithmetic torch writes (operator.add...)
        return
    match = re.fullmatch(r"torch\.ops\.aten\.(_?[A-Za-z][A-Za-z0-9_]*|__[a-z]+__)"
                         r"\.([A-Za-z][A-Za-z0-9_]*)", text)
    if match is None:
        raise Refused(f"it calls {_shown(text)}, which is not an ATen operation; cnnscope runs "
                       "only those.")
    if _DENIED_OPS.fullmatch(match.group(1)):
        raise Refused(f"it calls {_shown(text)}, an operation that reaches past its tensors "
                       "(files, raw memory), which cnnscope never runs.")
    try:
        op = getattr(getattr(torch.ops.aten, match.group(1)), match.group(2))
    except Exception:  # noqa: BLE001 - torch answers an unknown name with several error types
        op = None
    if not isinstance(op, torch._ops.OpOverload):
        raise Refused(f"it calls {_shown(text)}, an operation this PyTorch does not have.")


def _check_treespec(text: str) -> None:
    """A pytree spec as torch writes one: no type outside the plain containers (a defaultdict's
    names a module to import), and no JSON object in a context (torch's hook imports by name)."""
    from torch.utils._pytree import SERIALIZED_TYPE_TO_PYTHON_TYPE

    plain = {"builtins.tuple", "builtins.list", "builtins.dict", "collections.OrderedDict",
             "torch.fx.immutable_collections.immutable_list",
             "torch.fx.immutable_collections.immutable_dict", "torch.Size"}

    def context_ok(value, depth=0) -> bool:
        if isinstance(value, list):
            return depth < 8 and all(context_ok(v, depth + 1) for v in value)
        if isinstance(value, str):
            return bool(_SPEC_KEY.fullmatch(value))
        return value is None or type(value) in (int, float, bool)

    def node_ok(node, depth=0) -> bool:
        if depth > 64 or not isinstance(node, dict) or set(node) != {"type", "context",
                                                                     "children_spec"}:
            return False
        kind, context, children = node["type"], node["context"], node["children_spec"]
        if not isinstance(children, list):
            return False
        if kind is None:
            fits = context is None and not children
        elif kind == "collections.namedtuple":  # looked up among registered types, by name
            fits = isinstance(context, str) and context in SERIALIZED_TYPE_TO_PYTHON_TYPE
        elif kind in plain and isinstance(context, str):
            try:
                fits = context_ok(json.loads(context))
            except (ValueError, RecursionError):
                fits = False
        else:
            fits = False
        return fits and all(node_ok(child, depth + 1) for child in children)

    try:
        protocol, spec = json.loads(text)
        fits = protocol == 1 and node_ok(spec)
    except (ValueError, TypeError, RecursionError):
        fits = False
    if not fits:
        raise Refused(f"its input/output layout {_shown(text)} is not one torch.export writes.")


def check_ident(text: str) -> None:
    if not _IDENT.fullmatch(text) or keyword.iskeyword(text):
        raise Refused(f"its name {_shown(text)} is not one torch.export writes.")


def _check_path(text: str) -> None:
    if not _PATH.fullmatch(text):
        raise Refused(f"its module or tensor name {_shown(text)} is not one torch.export writes.")


def _check_json(text: str) -> None:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        raise Refused(f"its node annotation {_shown(text)} is not JSON.") from None


def _check_device(text: str) -> None:
    if not re.fullmatch(r"[a-z]{1,20}", text):
        raise Refused(f"its device {_shown(text)} is not one torch.export writes.")


def _check_text(_text: str) -> None:
    """Kept as data (messages, stack traces, string arguments of operations): nothing to check."""


def _check_nn_module_stack(text: str) -> None:
    for item in text.split(";"):
        parts, start, depth = [], 0, 0  # torch splits on commas outside brackets
        for end, char in enumerate(item):
            depth += (char in "[(") - (char in ")]")
            if char == "," and depth == 0:
                parts.append(item[start:end])
                start = end + 1
        parts.append(item[start:])
        if len(parts) != 3:
            raise Refused(f"its module annotation {_shown(item)} is not one torch.export writes.")
        _check_path(parts[1])  # the module's name: the call target of the rebuilt tree


def _check_source_fn_stack(text: str) -> None:
    for item in text.split(";"):
        parts = item.split(",")
        # torch resolves the second part by getattr from torch, operator or math (no call)
        if len(parts) != 2 or not _DOTTED.fullmatch(parts[1]) or "__" in parts[1]:
            raise Refused(f"its source annotation {_shown(item)} is not one torch.export writes.")


def _check_verifier(text: str) -> None:
    from torch._export.verifier import _VerifierMeta

    if text and text not in _VerifierMeta._registry:
        raise Refused(f"it asks for the verifier {_shown(text)}, which torch does not have.")


def _check_range_key(text: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9_ +*/%(),.-]{1,2000}", text):
        raise Refused(f"its shape range {_shown(text)} is not one torch.export writes.")


def _check_weight_file(text: str) -> None:
    if not re.fullmatch(r"weight_[0-9]{1,9}", text):
        raise Refused(f"its weight record {_shown(text)} is not one torch.export writes.")


def _check_constant_file(text: str) -> None:
    if not re.fullmatch(r"tensor_[0-9]{1,9}", text):  # custom_obj_ / opaque_obj_: unpickled
        raise Refused(f"its constant {_shown(text)} is not a tensor; cnnscope loads tensors only.")


_NODE_METADATA = {"nn_module_stack": _check_nn_module_stack,
                  "source_fn_stack": _check_source_fn_stack,
                  "custom": _check_json, "from_node": _check_json}

#: The rule for each text field of torch's schema, by (class, field); a field not here is refused.
_TEXT_RULES = {
    ("Device", "type"): _check_device,
    ("SymExpr", "expr_str"): _check_expr,
    ("SymIntArgument", "as_name"): check_ident, ("SymFloatArgument", "as_name"): check_ident,
    ("SymBoolArgument", "as_name"): check_ident, ("TensorArgument", "name"): check_ident,
    ("TokenArgument", "name"): check_ident, ("NamedArgument", "name"): check_ident,
    ("Argument", "as_string"): _check_text, ("Argument", "as_strings"): _check_text,
    ("ConstantValue", "as_string"): _check_text,
    ("Node", "target"): _check_target, ("Node", "name"): check_ident,
    ("InputToConstantInputSpec", "name"): check_ident,
    ("InputToParameterSpec", "parameter_name"): _check_path,
    ("InputToBufferSpec", "buffer_name"): _check_path,
    ("InputToTensorConstantSpec", "tensor_constant_name"): _check_path,
    ("BufferMutationSpec", "buffer_name"): _check_path,
    ("ParameterMutationSpec", "parameter_name"): _check_path,
    ("GradientToParameterSpec", "parameter_name"): _check_path,
    ("GradientToUserInputSpec", "user_input_name"): check_ident,
    ("UserInputMutationSpec", "user_input_name"): check_ident,
    ("ModuleCallSignature", "in_spec"): _check_treespec,
    ("ModuleCallSignature", "out_spec"): _check_treespec,
    ("ModuleCallSignature", "forward_arg_names"): check_ident,
    ("ModuleCallEntry", "fqn"): _check_path,
    ("NamedTupleDef", "field_names"): check_ident,
    ("ExportedProgram", "verifiers"): _check_verifier,
    ("ExportedProgram", "torch_version"): _check_text,
    ("ExportedProgram", "guards_code"): _check_guard,
}
#: The rule for the keys of each mapping, by (class, field).
_KEY_RULES = {
    ("Graph", "tensor_values"): check_ident, ("Graph", "sym_int_values"): check_ident,
    ("Graph", "sym_bool_values"): check_ident, ("Graph", "sym_float_values"): check_ident,
    ("Argument", "as_string_to_argument"): check_ident,
    ("Node", "metadata"): _check_text, ("GraphModule", "metadata"): _check_text,
    ("GraphModule", "treespec_namedtuple_fields"): _check_text,
    ("ExportedProgram", "opset_version"): check_ident,
    ("ExportedProgram", "range_constraints"): _check_range_key,
    ("PayloadConfig", "config"): _check_path,
}
#: What cnnscope never loads, by (class, field): custom (torchbind) objects, nested graphs of
#: higher-order operations, operators passed as values.
_REFUSED_FIELDS = {
    ("Argument", "as_graph"): "a nested graph (a higher-order operation)",
    ("Argument", "as_custom_obj"): "a custom class object",
    ("Argument", "as_operator"): "an operator passed as a value",
    ("InputSpec", "custom_obj"): "a custom class object",
    ("Graph", "custom_obj_values"): "a custom class object",
}


@lru_cache(maxsize=None)
def _fields(cls) -> dict:
    """The fields of one of torch's schema classes, with their types."""
    import dataclasses

    from torch._export.serde import schema

    hints = typing.get_type_hints(cls, globalns=vars(schema))
    return {field.name: hints[field.name] for field in dataclasses.fields(cls)}


@lru_cache(maxsize=None)
def _enum_values(kind) -> frozenset[int]:
    return frozenset(member.value for member in kind)


@lru_cache(maxsize=None)
def _shape(kind) -> tuple:
    """What a type of torch's schema asks of JSON: ('optional', inner), ('list', item),
    ('dict', item), ('union', class), ('record', class), ('enum', class) or (primitive,)."""
    import dataclasses
    import enum
    import types

    from torch._export.serde.union import _Union

    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [k for k in args if k is not type(None)]  # the schema's unions are Optional
        return ("optional", inner)
    if origin is list:
        return ("list", args[0])
    if origin is dict:
        return ("dict", args[1])
    if isinstance(kind, type) and issubclass(kind, _Union):
        return ("union", kind)
    if dataclasses.is_dataclass(kind):
        return ("record", kind)
    if isinstance(kind, type) and issubclass(kind, enum.IntEnum):
        return ("enum", kind)
    return (kind,)


def _walk(kind, value, where: str, field: tuple[str, str], rules: dict) -> None:
    """Check ``value`` (parsed JSON) as torch's reader will read it as ``kind``: every type as the
    schema says, every text by its field's rule."""

    def damaged(expected: str):
        return Refused(f"its program description is not torch.export's (at {where}: expected "
                        f"{expected}).")

    shape = _shape(kind)
    tag = shape[0]
    if tag == "optional":
        if value is not None:
            _walk(shape[1], value, where, field, rules)
        return
    if tag == "list":
        if not isinstance(value, list):
            raise damaged("a list")
        for i, item in enumerate(value):
            _walk(shape[1], item, f"{where}[{i}]", field, rules)
        return
    if tag == "dict":
        if not isinstance(value, dict):
            raise damaged("a mapping")
        if value and field in _REFUSED_FIELDS:
            raise Refused(f"it needs {_REFUSED_FIELDS[field]}, which cnnscope never loads.")
        key_rule = _KEY_RULES.get(field)
        if key_rule is None and value:
            raise damaged("no entries")
        for key, item in value.items():
            key_rule(key)
            if field == ("Node", "metadata"):  # each annotation has its own format
                if not isinstance(item, str):
                    raise damaged("text")
                _NODE_METADATA.get(key, _check_text)(item)
            elif field == ("GraphModule", "metadata"):
                if not isinstance(item, str):
                    raise damaged("text")
                if key == "custom":
                    _check_json(item)
            else:
                _walk(shape[1], item, f"{where}[{key!r}]", field, rules)
        return
    if tag == "union":
        members = _fields(shape[1])
        if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in members:
            raise damaged(f"one of {shape[1].__name__}'s kinds")
        (member, item), = value.items()
        here = (shape[1].__name__, member)
        if here in _REFUSED_FIELDS:
            raise Refused(f"it needs {_REFUSED_FIELDS[here]}, which cnnscope never loads.")
        _walk(members[member], item, f"{where}.{member}", here, rules)
        return
    if tag == "record":
        if not isinstance(value, dict):
            raise damaged(shape[1].__name__)
        name = shape[1].__name__
        for key, hint in _fields(shape[1]).items():
            if key in value:  # torch's reader skips what its schema does not name
                _walk(hint, value[key], f"{where}.{key}", (name, key), rules)
        return
    if tag == "enum":
        if type(value) is not int or value not in _enum_values(shape[1]):
            raise damaged(shape[1].__name__)
        return
    if tag is bool:
        if not isinstance(value, bool):
            raise damaged("true or false")
        return
    if tag is int or tag is float:
        if type(value) not in ((int,) if tag is int else (int, float)):
            raise damaged("a number")
        return
    if tag is str:
        if not isinstance(value, str):
            raise damaged("text")
        rule = rules.get(field) or _TEXT_RULES.get(field)
        if rule is None:
            raise damaged("no text")
        rule(value)
        return
    raise damaged(str(kind))


def check_program(data: bytes) -> None:
    """Refuse (``Refused``) an archive that holds anything but a plain torch.export program,
    reading it with the very reader torch will use, from the same bytes."""
    from torch._export.serde import schema

    reader = torch._C.PyTorchFileReader(io.BytesIO(data))
    names = reader.get_all_records()
    for name in names:
        if name not in _FIXED_RECORDS and not _RECORD.fullmatch(name):
            raise Refused(f"it holds {_shown(name)}, which is not part of a plain torch.export "
                           "program (compiled code, pickled objects and custom classes are never "
                           "loaded).")
    if sum(reader.get_record_size(name) for name in names) > len(data) + (1 << 20):
        raise Refused("its records claim more bytes than the file holds (torch.export never "
                       "compresses), a 'zip bomb' meant to exhaust memory.")

    def read(name: str):
        try:
            return json.loads(reader.get_record(name).decode("utf-8"))
        except (ValueError, RecursionError):
            raise Refused(f"its {name} is not JSON.") from None

    _walk(schema.ExportedProgram, read("models/model.json"), "program", ("", ""), {})
    for name, rule in (("data/weights/model_weights_config.json", _check_weight_file),
                       ("data/constants/model_constants_config.json", _check_constant_file)):
        config = read(name)
        _walk(schema.PayloadConfig, config, name, ("", ""), {("PayloadMeta", "path_name"): rule})
        for meta in config.get("config", {}).values():  # a tensor with no bytes is made of zeros
            sizes = (meta.get("tensor_meta") or {}).get("sizes") or []
            numel = 1
            for size in sizes:
                numel *= max(0, int(size.get("as_int", 0)))
            if numel > len(data) + (1 << 20):
                raise Refused("it describes a tensor larger than the file, which would exhaust "
                               "memory.")
