"""Grammatical-role tasks: on corpora generated from a grammar, or read from CoNLL-U files."""

from __future__ import annotations

from typing import Literal

from probekit.corpus import Corpus, read_conllu
from probekit.errors import ProbekitError
from probekit.io import check_readable
from probekit.registry import register_task
from probekit.roles import check_scheme, corpus_roles
from probekit.tasks.base import Targets, Task, TaskData


class RolesTask(Task):
    """Shared target function: the role of every word, and the structure-dependent subset."""

    default_probe = "linear"

    def __init__(self, scheme: Literal["syntactic", "thematic"] = "syntactic"):
        self.scheme = check_scheme(scheme)

    def targets(self, corpus: Corpus) -> Targets:
        roles = corpus_roles(corpus, self.scheme)
        return Targets(roles.labels, roles.names, {"structure_dependent": roles.structure_dependent})


@register_task("grammar-roles")
class GrammarRolesTask(RolesTask):
    """Roles on sentences generated from head-marked grammars (train grammar -> test grammar)."""

    def __init__(
        self,
        train_grammar: str = "A",
        test_grammar: str = "A",
        n_train: int = 4000,
        n_test: int = 1000,
        data_seed: int = 0,
        train_min_rc_depth: int = 0,
        train_max_rc_depth: int | None = 1,
        test_min_rc_depth: int = 0,
        test_max_rc_depth: int | None = 1,
        max_length: int = 40,
        dedupe_test: bool = True,
        scheme: Literal["syntactic", "thematic"] = "syntactic",
    ):
        super().__init__(scheme)
        if n_train < 1 or n_test < 1:
            raise ProbekitError(f"n_train and n_test must be at least 1 (got {n_train}, {n_test}).")
        self.train_grammar, self.test_grammar = train_grammar, test_grammar
        self.n_train, self.n_test, self.data_seed = n_train, n_test, data_seed
        self.train_min_rc_depth, self.train_max_rc_depth = train_min_rc_depth, train_max_rc_depth
        self.test_min_rc_depth, self.test_max_rc_depth = test_min_rc_depth, test_max_rc_depth
        self.max_length, self.dedupe_test = max_length, dedupe_test

    def load(self) -> TaskData:
        from probekit.grammar import generate_corpus

        # Train and test come from different streams of the same data seed.
        train = generate_corpus(self.train_grammar, self.n_train, seed=2 * self.data_seed,
                                min_rc_depth=self.train_min_rc_depth, max_rc_depth=self.train_max_rc_depth,
                                max_length=self.max_length)
        test = generate_corpus(self.test_grammar, self.n_test, seed=2 * self.data_seed + 1,
                               min_rc_depth=self.test_min_rc_depth, max_rc_depth=self.test_max_rc_depth,
                               max_length=self.max_length)
        notes = {}
        if self.dedupe_test:
            seen = {s.words for s in train.sentences}
            kept = [i for i, s in enumerate(test.sentences) if s.words not in seen]
            notes["test_sentences_also_in_train_removed"] = len(test) - len(kept)
            if not kept:
                raise ProbekitError("every test sentence also occurs in the training corpus; "
                                    "raise n_test or use -O dedupe_test=false.")
            test = test.subset(kept)
        train.name, test.name = f"{self.train_grammar}-train", f"{self.test_grammar}-test"
        return TaskData(train, test, notes)


@register_task("ud-roles")
class TreebankRolesTask(RolesTask):
    """Roles on a UD treebank: English EWT by default, or any CoNLL-U train/test files by path."""

    def __init__(self, train_path: str = "", test_path: str = "", data_dir: str = "",
                 train_split: Literal["train", "dev", "test"] = "train",
                 test_split: Literal["train", "dev", "test"] = "test",
                 scheme: Literal["syntactic", "thematic"] = "syntactic"):
        super().__init__(scheme)
        if bool(train_path) != bool(test_path):
            raise ProbekitError("give both train_path and test_path (-O train_path=A.conllu -O test_path=B.conllu), "
                                "or neither to use UD English EWT.")
        self.train_path, self.test_path, self.data_dir = train_path, test_path, data_dir
        self.train_split, self.test_split = train_split, test_split

    def _paths(self) -> tuple:
        from probekit.datasets import ud_english_ewt

        if self.train_path:
            return self.train_path, self.test_path
        return (ud_english_ewt(self.train_split, self.data_dir or None),
                ud_english_ewt(self.test_split, self.data_dir or None))

    def check_resources(self) -> None:
        """The two CoNLL-U files exist (EWT's are found, or fetched, as :meth:`load` would)."""
        for path in self._paths():
            check_readable(path, "CoNLL-U file")

    def load(self) -> TaskData:
        paths = self._paths()
        train, test = (read_conllu(p) for p in paths)
        return TaskData(train, test, {"train_file": str(paths[0]), "test_file": str(paths[1])})
