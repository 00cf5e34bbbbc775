"""intake: candidate technologies and their domestic and overseas survey (調査・準備)."""
