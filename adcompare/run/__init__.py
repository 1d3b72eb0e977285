"""Running the suite: the plan (`plan`), the measurement processes (`worker`, `preload`), the
campaign that schedules them (`campaign`), saving a run into results/ (`merge`), publishing
(`publish`), interrupts (`interrupts`), the `adcompare run` command (`command`) with its history
(`history`) and CI (`check`) modes, and the checkout they work in (`checkout`)."""
