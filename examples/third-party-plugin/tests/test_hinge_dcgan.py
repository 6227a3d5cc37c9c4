"""The third-party example plugin, tested with gankit's pytest plugin as any plugin author would."""

from gankit_core.testing import check_model_contract


def test_registers_through_entry_point(gankit_only):
    plugins = gankit_only("hinge-dcgan", "dcgan")
    entry = plugins.registry.get("model", "hinge-dcgan")
    assert entry.plugin.distribution == "gankit-hinge-dcgan"
    assert plugins.registry.get("discriminator", "sn-dcgan").plugin.distribution == "gankit-hinge-dcgan"


def test_model_contract(tmp_path):
    result = check_model_contract("hinge-dcgan", tmp_path, image_size=32, g_features=8, d_features=8, latent_dim=16)
    assert {"loss_d", "loss_g", "real_score", "fake_score"} <= set(result.metrics)


def test_uses_hinge_loss_and_spectral_norm():
    from gankit_core import api
    from gankit_core.losses import HingeLoss

    model = api.create_model("hinge-dcgan", image_size=32)
    nets = model.build()
    assert isinstance(model.loss, HingeLoss)
    assert not any("BatchNorm" in type(m).__name__ for m in nets["discriminator"].modules())
    assert any("parametrizations" in name for name, _ in nets["discriminator"].named_parameters())
