"""WiSE-FT weight interpolation and the symmetric loss of the encoder training (real model: slow)."""

from __future__ import annotations

import pytest
import torch

from itsm_ai.encoder.training import Pairs, fine_tune, interpolate_state

PAIRS = Pairs(
    ["printer jam on floor 3", "vpn drops hourly", "outlook offline", "password expired",
     "laptop slow to boot", "wifi weak in room 2"],
    ["paper jam in printer", "vpn disconnects", "mail client disconnected", "reset password", "slow computer",
     "wireless coverage"],
)


def test_interpolation_blends_float_weights_and_keeps_integer_buffers():
    base = {"w": torch.tensor([0.0, 2.0]), "ids": torch.tensor([0, 1])}
    tuned = {"w": torch.tensor([1.0, 4.0]), "ids": torch.tensor([0, 1])}
    assert torch.allclose(interpolate_state(base, tuned, 0.25)["w"], torch.tensor([0.25, 2.5]))
    assert torch.equal(interpolate_state(base, tuned, 1.0)["w"], tuned["w"])
    kept = interpolate_state(base, tuned, 0.5)["ids"]
    assert kept.dtype == torch.int64 and torch.equal(kept, tuned["ids"])
    with pytest.raises(ValueError, match="do not match"):
        interpolate_state({"w": base["w"]}, tuned, 0.5)


@pytest.mark.parametrize("alpha", [0.0, -0.1, 1.5])
def test_training_refuses_an_interpolation_outside_0_1(alpha, tmp_path):
    with pytest.raises(ValueError, match="interpolation"):
        fine_tune(PAIRS, base_folder=tmp_path, out_folder=tmp_path / "out", interpolation=alpha)


def test_settings_refuse_an_interpolation_outside_0_1():
    from pydantic import ValidationError

    from itsm_ai.config import Settings

    assert Settings(encoder_train_interpolation=0.7).encoder_train_interpolation == 0.7
    with pytest.raises(ValidationError, match="encoder_train_interpolation"):
        Settings(encoder_train_interpolation=0)


@pytest.mark.slow
def test_interpolated_training_saves_the_blend_of_stock_and_fine_tuned_weights(tmp_path):
    """Same seed, same steps: the a=0.5 model is halfway between the stock and the a=1 model, weight by
    weight, and interpolate_folders gives the same blend from saved folders."""
    from sentence_transformers import SentenceTransformer

    from itsm_ai.embeddings import BUNDLED_MODEL, model_folder
    from itsm_ai.encoder.training import interpolate_folders

    base = model_folder(BUNDLED_MODEL)
    common = {"base_folder": base, "epochs": 1, "batch_size": 4, "learning_rate": 1e-4, "max_steps": 2,
              "symmetric": True}
    full = fine_tune(PAIRS, out_folder=tmp_path / "full", **common)
    half = fine_tune(PAIRS, out_folder=tmp_path / "half", interpolation=0.5, **common)
    assert full["symmetric_loss"] and full["interpolation"] == 1.0 and half["interpolation"] == 0.5
    assert full["steps"] == half["steps"] == 2
    interpolate_folders(base, tmp_path / "full", tmp_path / "blend", 0.5)
    stock, tuned, blend, again = (SentenceTransformer(str(f), device="cpu").state_dict()
                                  for f in (base, tmp_path / "full", tmp_path / "half", tmp_path / "blend"))
    name = next(n for n, v in stock.items() if v.is_floating_point() and not torch.equal(v, tuned[n]))
    moved = 0
    for n, v in stock.items():
        if v.is_floating_point():
            assert torch.allclose(blend[n], (v + tuned[n]) / 2, atol=1e-5), n
            assert torch.allclose(again[n], blend[n], atol=1e-5), n
            moved += not torch.allclose(blend[n], v)
    assert moved > 0 and not torch.allclose(blend[name], tuned[name])
