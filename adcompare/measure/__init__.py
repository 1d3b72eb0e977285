"""Measurement: the thread policy (`threads`), the frameworks a measurement process loads
(`frameworks`), operators prepared by their ids (`prepared`), randomized interleaved rounds
(`rounds`), the reference kernel (`reference`), estimates and CIs (`stats`, `estimates`).

Nothing here decides *what* is measured (that is `adcompare.families`) or *when* (`adcompare.run`).
"""
