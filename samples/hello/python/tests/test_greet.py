import subprocess
import sys
import unittest

import calvin_hello


class GreetTest(unittest.TestCase):
    def test_greets_by_name(self) -> None:
        self.assertEqual(calvin_hello.greet("calvin"), "hello, calvin!")

    def test_greets_the_world_without_a_name(self) -> None:
        self.assertEqual(calvin_hello.greet(), "hello, world!")
        self.assertEqual(calvin_hello.greet(""), "hello, world!")

    def test_runs_as_a_module(self) -> None:
        out = subprocess.run([sys.executable, "-m", "calvin_hello", "make"], capture_output=True, text=True, check=True)
        self.assertEqual(out.stdout, "hello, make!\n")


if __name__ == "__main__":
    unittest.main()
