"""Find a font with Chinese glyphs for matplotlib, so road names never render as empty boxes."""

from __future__ import annotations

import functools
from pathlib import Path

from matplotlib import font_manager

# Families that carry simplified-Chinese glyphs, in order of preference.
_CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
)


def _bundled_font_files() -> list[Path]:
    """Font files shipped by the ``mplfonts`` package, a runtime dependency of cysim."""
    try:
        import mplfonts
    except ImportError:
        return []
    folder = Path(mplfonts.__file__).parent / "fonts"
    return sorted(folder.glob("NotoSansCJK*.otf")) + sorted(folder.glob("*.ttf"))


@functools.cache
def cjk_font_family() -> str:
    """Return the name of a font family with CJK glyphs, registering the bundled one if needed.

    Returns
    -------
    str
        A family name usable as ``fontfamily=`` in matplotlib.

    Raises
    ------
    RuntimeError
        If no CJK font is installed and the bundled one cannot be found (a broken install).
    """
    for path in _bundled_font_files():
        font_manager.fontManager.addfont(str(path))
    installed = {f.name for f in font_manager.fontManager.ttflist}
    for family in _CJK_FAMILIES:
        if family in installed:
            return family
    raise RuntimeError(
        "no font with Chinese glyphs found; reinstall cysim (it depends on 'mplfonts', which ships "
        "Noto Sans CJK SC) or install a CJK font such as Debian's fonts-noto-cjk"
    )


def use_cjk_font() -> str:
    """Make the CJK family matplotlib's default sans-serif font and return its name."""
    import matplotlib as mpl

    family = cjk_font_family()
    mpl.rcParams["font.sans-serif"] = [family, *mpl.rcParams["font.sans-serif"]]
    mpl.rcParams["font.family"] = "sans-serif"
    mpl.rcParams["axes.unicode_minus"] = False
    return family
