"""Records where the kgen source tree is, so that an installed package can
find the libkgen built there (build/libkgen.so) without KGEN_LIBRARY."""
import os

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPy(build_py):
    def run(self):
        super().run()
        tree = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        target = os.path.join(self.build_lib, "kgen", "_where.py")
        with open(target, "w") as f:
            f.write(f"# written by setup.py at install time\nSOURCE_TREE = {tree!r}\n")


setup(cmdclass={"build_py": BuildPy})
