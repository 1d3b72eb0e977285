"""What every benchmark class shares: parameters from the grid, and the n/a rule."""

from __future__ import annotations

from adcompare import grid

GRID = grid.grid_from_env()


class Family:
    """Base of the benchmark classes: `class X(Family, family="module.Class.method")` takes
    params and param_names from the grid of $ADCOMPARE_GRID. asv runs the Cartesian product of
    the params; `check` makes the corners outside the grid n/a at once."""

    timeout = 300

    def __init_subclass__(cls, family: str, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.family = grid.FAMILIES[family]
        cls.params = grid.params(cls.family, GRID)
        cls.param_names = cls.family.param_names
        cls._selected = frozenset(grid.combos(cls.family, GRID))

    def check(self, *combo) -> None:
        if combo not in self._selected:
            raise NotImplementedError(f"not in the {GRID} grid of {self.family.name}")
