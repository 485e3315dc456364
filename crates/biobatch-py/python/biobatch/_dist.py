"""Which rank this process is, and how many there are."""

import os


def resolve_rank(rank=None, world_size=None, seed=None):
    """``(rank, world_size)``: given explicitly, else from an initialised
    ``torch.distributed``, else from ``RANK`` / ``WORLD_SIZE`` (as torchrun sets them), else
    ``(0, 1)``.

    Every rank must derive its share from the same seed: an unseeded run (``seed=None``)
    with ``world_size > 1`` raises ``ValueError`` instead of letting ranks silently train on
    different orders.
    """
    from ._errors import InvalidInputError

    if (rank is None) != (world_size is None):
        raise InvalidInputError("give both rank and world_size, or neither")
    if rank is None:
        rank, world_size = _from_torch() or _from_env() or (0, 1)
    rank, world_size = int(rank), int(world_size)
    if world_size < 1:
        raise InvalidInputError(f"world_size must be at least 1, not {world_size}")
    if not 0 <= rank < world_size:
        raise InvalidInputError(f"rank {rank} is not in 0..{world_size}")
    if world_size > 1 and seed is None:
        raise InvalidInputError(
            f"world_size is {world_size} but no seed was given: every rank would draw its own "
            "order and the ranks' shares would overlap; give the same seed on every rank"
        )
    return rank, world_size


def _from_torch():
    try:
        import torch.distributed as dist
    except ImportError:
        return None
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return None


def _from_env():
    from ._errors import InvalidInputError

    if "WORLD_SIZE" not in os.environ:
        return None
    try:
        world = int(os.environ["WORLD_SIZE"])
        rank = int(os.environ.get("RANK", "0"))
    except ValueError as e:
        raise InvalidInputError(f"RANK / WORLD_SIZE must be integers: {e}") from None
    return rank, world
