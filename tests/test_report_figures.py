"""Report figures are laid out exactly as ``fig.tight_layout`` would, and drawn once when saved."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from fairxbar_aihw.errors import UserError  # noqa: E402
from fairxbar_aihw.report import figures  # noqa: E402


def _figure() -> Figure:
    fig, axes = plt.subplots(2, 2, figsize=(6, 4))
    for i, ax in enumerate(axes.flat):
        ax.plot([1, 10, 100], [3, 1, 2], marker="o", label=f"method {i}")
        ax.set_xscale("log")
        ax.set_xlabel("a long x label that needs room")
        ax.set_ylabel("macro-F1")
        ax.set_title(f"panel {i}", fontsize=9)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("a title", fontsize=10)
    return fig


@pytest.mark.parametrize("rect", [None, (0, 0, 0.8, 0.95)])
def test_save_lays_out_like_tight_layout_and_draws_once(tmp_path, monkeypatch, rect):
    ref = _figure()
    ref.tight_layout(rect=rect)
    ref.savefig(tmp_path / "ref.png", dpi=110, metadata={"Software": None})
    plt.close(ref)

    draws = []
    draw = Figure.draw
    monkeypatch.setattr(Figure, "draw", lambda self, renderer: draws.append(renderer) or draw(self, renderer))
    fig = _figure()
    assert figures._save(fig, tmp_path / "new.png", rect=rect) == "new.png"
    assert len(draws) == 1  # no extra draw without output before the one that writes the PNG
    assert (tmp_path / "new.png").read_bytes() == (tmp_path / "ref.png").read_bytes()
    assert not plt.fignum_exists(fig.number)


def test_save_closes_the_figure_when_writing_fails(tmp_path):
    fig = _figure()
    with pytest.raises(UserError, match=f"cannot write {tmp_path / 'missing' / 'fig.png'} "):
        figures._save(fig, tmp_path / "missing" / "fig.png")
    assert not plt.fignum_exists(fig.number)
