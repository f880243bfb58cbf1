from typing import Any, Literal, overload
import numpy as np
from numpy.typing import ArrayLike, NDArray

__version__: str

_Axis = int | tuple[int, ...] | None
_Float = np.float32 | np.float64

def softmax(x: ArrayLike, axis: _Axis = -1, *, temperature: float = 1.0,
            out: NDArray[_Float] | None = None, threads: int | None = None) -> NDArray[_Float]: ...
def log_softmax(x: ArrayLike, axis: _Axis = -1, *, temperature: float = 1.0,
                out: NDArray[_Float] | None = None, threads: int | None = None) -> NDArray[_Float]: ...
@overload
def logsumexp(x: ArrayLike, axis: _Axis = -1, *, b: ArrayLike | None = None,
              keepdims: bool = False, return_sign: Literal[False] = False,
              out: NDArray[_Float] | None = None, threads: int | None = None) -> Any: ...
@overload
def logsumexp(x: ArrayLike, axis: _Axis = -1, *, b: ArrayLike | None = None,
              keepdims: bool = False, return_sign: Literal[True],
              out: NDArray[_Float] | None = None, threads: int | None = None) -> tuple[Any, Any]: ...
@overload
def cross_entropy(logits: ArrayLike, target: ArrayLike, axis: int = -1, *,
                  weight: ArrayLike | None = None, ignore_index: int = -100,
                  reduction: Literal["none", "mean", "sum"] = "mean",
                  label_smoothing: float = 0.0, return_grad: Literal[False] = False,
                  grad_out: NDArray[_Float] | None = None, threads: int | None = None) -> Any: ...
@overload
def cross_entropy(logits: ArrayLike, target: ArrayLike, axis: int = -1, *,
                  weight: ArrayLike | None = None, ignore_index: int = -100,
                  reduction: Literal["none", "mean", "sum"] = "mean",
                  label_smoothing: float = 0.0, return_grad: Literal[True],
                  grad_out: NDArray[_Float] | None = None,
                  threads: int | None = None) -> tuple[Any, NDArray[_Float]]: ...
def softmax_backward(y: ArrayLike, dy: ArrayLike, axis: _Axis = -1, *,
                     out: NDArray[_Float] | None = None,
                     threads: int | None = None) -> NDArray[_Float]: ...
def log_softmax_backward(y: ArrayLike, dy: ArrayLike, axis: _Axis = -1, *,
                         out: NDArray[_Float] | None = None,
                         threads: int | None = None) -> NDArray[_Float]: ...
def cpu_info() -> dict[str, Any]: ...
def set_isa(name: str) -> str: ...
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def get_include() -> str: ...
