import pytest
import torch
import torch.nn.functional as F

from videmo.model.awei import Awei, ResidualBranch, feature_grid


@pytest.mark.parametrize("arch", ["cnn", "awei", "awei-vgg"])
@pytest.mark.parametrize("channels", [1, 3])
def test_every_variant_gives_seven_logits(arch, channels):
    model = Awei(arch, channels, 64, vgg="vgg11").eval()
    assert model(torch.rand(2, channels, 64, 64)).shape == (2, 7)


def test_fused_feature_has_25088_values_at_224px():
    model = Awei("awei-vgg", 3, 224).eval()
    with torch.no_grad():
        features = model.fused_features(torch.rand(1, 3, 224, 224))
    assert features.shape == (1, 512, 7, 7) and features.flatten(1).shape[1] == 25088
    assert model.head[2].in_features == 25088


def test_variants_differ_only_by_their_branches():
    cnn, awei, full = Awei("cnn", 3, 64), Awei("awei", 3, 64, vgg="vgg13_bn"), Awei("awei-vgg", 3, 64, vgg="vgg13_bn")
    assert cnn.residual is None and cnn.vgg is None
    assert awei.residual is not None and awei.vgg is None
    assert full.residual.conv.in_channels == 3 and full.residual.conv.out_channels == 512
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in full.vgg.modules())
    widths = [m.out_channels for m in cnn.features if isinstance(m, torch.nn.Conv2d)]
    assert widths == [32, 64, 128, 256, 512]
    assert [m.out_features for m in cnn.head if isinstance(m, torch.nn.Linear)] == [1792, 7]


def test_residual_bands_equal_a_32x32_max_pool_of_the_whole_map():
    torch.manual_seed(0)
    branch = ResidualBranch(3)
    x = torch.rand(2, 3, 96, 128)
    expected = F.max_pool2d(branch.conv(x), 32)
    assert torch.allclose(branch(x, (3, 4)), expected, atol=1e-6)


@pytest.mark.parametrize("size", [48, 72, 100])
def test_sizes_that_are_not_multiples_of_32_pool_over_the_whole_image(size):
    torch.manual_seed(0)
    branch = ResidualBranch(1)
    x = torch.rand(1, 1, size, size)
    grid = (feature_grid(size),) * 2
    expected = F.adaptive_max_pool2d(branch.conv(x), grid)
    assert torch.allclose(branch(x, grid), expected, atol=1e-6)


@pytest.mark.parametrize("bad", [dict(arch="resnet"), dict(in_channels=2), dict(image_size=16), dict(vgg="vgg15")])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError):
        Awei(**{"arch": "awei-vgg", **bad})
