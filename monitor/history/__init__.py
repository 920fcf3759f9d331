"""What fcmdash records of a day and the numbers computed from it (issue 12)."""
