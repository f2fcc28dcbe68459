"""course.qlora's bitsandbytes reference, which lesson 07's autograder compares students against."""

from __future__ import annotations

import pytest
import torch

import course  # noqa: F401  (before bitsandbytes: it quiets its logging)
from course.qlora import bnb_nf4, unpack_4bit


@pytest.mark.parametrize("shape", [(64, 64), (640, 16), (128, 32), (40, 768), (768, 40), (3, 448)])
def test_bnb_nf4_is_codebook_times_absmax(shape):
    """The reference round trip equals level[code] * absmax for every shape the hidden tests draw.

    bitsandbytes 0.50's CPU de-quantize is wrong for a last dimension of 16 or 32, so quantizing
    `w` as it comes made the hidden test fail for 14 of 60 seeds.
    """
    import bitsandbytes.functional as F

    torch.manual_seed(0)
    w = torch.randn(shape) * 3
    codes, absmax, back = bnb_nf4(w)
    levels = F.get_4bit_type("nf4", device="cpu")
    assert codes.shape == (w.numel(),) and int(codes.max()) <= 15
    assert torch.equal(absmax, w.reshape(-1, 64).abs().amax(1))
    assert back.shape == w.shape
    assert torch.equal(back, (levels[codes.long()].reshape(-1, 64) * absmax[:, None]).reshape(shape))


def test_unpack_4bit_high_nibble_first():
    packed = torch.tensor([0x1F, 0xA0, 0x7C], dtype=torch.uint8)
    assert unpack_4bit(packed, 5).tolist() == [1, 15, 10, 0, 7]
