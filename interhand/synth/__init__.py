"""The embedded dataset generator: hand kinematics, cameras, a depth-tested renderer and format writers."""
