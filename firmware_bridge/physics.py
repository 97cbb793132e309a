"""Physical constants, in one place (SI units), for the engine and the simulator."""

# One g, by definition (CGPM 1901): the unit an accelerometer reports in.
STANDARD_GRAVITY_M_S2 = 9.80665
# Gravity at a track, as the sprint-profile literature takes it (Samozino et al. 2016):
# body weight, and the vertical impulse of a step.
GRAVITY_M_S2 = 9.81
# The drag coefficient of a runner upright (Samozino et al. 2016; Arsac & Locatelli 2002).
DRAG_COEFFICIENT = 0.9
