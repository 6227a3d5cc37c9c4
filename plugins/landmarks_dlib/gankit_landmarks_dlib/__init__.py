"""gankit-landmarks-dlib: hook implementations only (dlib is imported when a detector is built)."""

from gankit_core.hookspecs import hookimpl


@hookimpl
def register_landmark_detectors(register):
    register("dlib68", "gankit_landmarks_dlib.detector:DlibDetector",
             summary="dlib HOG face detector + 68-point shape predictor (offline)",
             paper="Kazemi & Sullivan 2014; iBUG 300-W 68-point convention (paper 003 uses DLIB)")
