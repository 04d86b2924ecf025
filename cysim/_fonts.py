"""Find a font with Chinese glyphs for matplotlib, so road names never render as empty boxes."""

from __future__ import annotations

import base64
import functools
from io import BytesIO
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


def _subset_font_data(font_path: str, characters: set[str]) -> str:
    """Base64 of the font at ``font_path`` cut down to ``characters``; ``""`` if that fails."""
    try:
        from fontTools import subset

        options = subset.Options()
        options.name_IDs = ["*"]
        options.hinting = False
        font = subset.load_font(font_path, options)
        subsetter = subset.Subsetter(options)
        subsetter.populate(text="".join(sorted(characters)))
        subsetter.subset(font)
        buffer = BytesIO()
        subset.save_font(font, buffer, options)
    except (ImportError, ValueError, OSError, KeyError, AssertionError):
        return ""
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _font_paths() -> tuple[str | None, str | None]:
    """Files of the CJK sans font matplotlib uses and of a CJK monospaced font, when found."""
    from matplotlib import font_manager

    try:
        sans = font_manager.findfont(
            font_manager.FontProperties(family=cjk_font_family()), fallback_to_default=False
        )
    except (RuntimeError, ValueError):
        sans = None
    mono = None
    try:
        import mplfonts

        found = sorted((Path(mplfonts.__file__).parent / "fonts").glob("NotoSansMonoCJK*.otf"))
        mono = str(found[0]) if found else None
    except ImportError:
        pass
    return sans, mono


def font_face_css(text: str, mono_text: str) -> str:
    """``@font-face`` rules with the project's CJK fonts cut down to the characters used (HTML).

    Embedding subsets (some tens of kB) makes the page render Chinese on machines without a CJK
    font; the full fonts (16 MB each) would be far too big. Each subset holds every character it
    must draw (Latin too), so the browser never needs per-character fallback to a web font, which
    some headless browsers get wrong. ``'cysim CJK'`` (sans) covers ``text``; ``'cysim Mono'``
    covers ``mono_text`` (the change log). Missing fonts or fontTools (a matplotlib dependency)
    leave a face out: browsers then use the system fonts that follow in the CSS.
    """
    ascii_chars = {chr(c) for c in range(32, 127)}
    sans_path, mono_path = _font_paths()
    rules = []
    # Only regular cuts exist; browsers synthesise bold from them.
    for family, path, chars in (
        ("cysim CJK", sans_path, text),
        ("cysim Mono", mono_path, mono_text),
    ):
        data = (
            _subset_font_data(path, {c for c in chars if c.isprintable()} | ascii_chars)
            if path
            else ""
        )
        if data:
            rules.append(
                f"@font-face {{ font-family: '{family}'; font-display: block; "
                f"src: url(data:font/otf;base64,{data}) format('opentype'); }}"
            )
    return "\n".join(rules)
