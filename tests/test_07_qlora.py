"""course.lessons.qlora's bitsandbytes reference, which lesson 07's autograder compares students against."""

from __future__ import annotations

import pytest
import torch

import course  # noqa: F401  (before bitsandbytes: it quiets its logging)
from course.lessons.qlora import block_views, bnb_nf4, nf4_figure, unpack_4bit


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


def test_block_views_bin_the_scaled_weights_and_measure_bitsandbytes_error():
    import bitsandbytes.functional as F

    torch.manual_seed(0)
    w = torch.randn(64, 128) * 0.02
    w[3, 5] = 0.5  # an outlier: one large block suffers from it
    views = block_views(w, (64, 4096))
    levels = F.get_4bit_type("nf4", device="cpu")
    for size, view in views.items():
        codes, absmax, _ = bnb_nf4(w, size)
        nf4 = (levels[codes.long()].reshape(-1, size) * absmax[:, None]).reshape(w.shape)
        assert view.mse == pytest.approx(float((w.double() - nf4.double()).pow(2).mean()), rel=1e-6)
        assert float(view.shares.sum()) == pytest.approx(1)
        assert float(view.shares[0] + view.shares[-1]) >= 1 / size - 1e-6, "each block's absmax sits at -1 or 1"
    assert views[4096].mse > 2 * views[64].mse


def test_nf4_figure_draws_the_levels_and_states_block_size_and_error():
    import bitsandbytes.functional as F

    torch.manual_seed(0)
    views = block_views(torch.randn(64, 64), (64, 4096))
    fig64, fig4096 = (nf4_figure(views=views, blocksize=b, name="w") for b in (64, 4096))
    assert fig64.layout.title.text.startswith(f"blocks of 64: NF4 MSE {views[64].mse:.3e} on w")
    assert fig4096.layout.title.text.startswith("blocks of 4096") and "0.008 bits per weight" in fig4096.layout.title.text
    drawn = sorted({x for x in fig64.data[1].x if x is not None})
    assert drawn == F.get_4bit_type("nf4", device="cpu").tolist()
