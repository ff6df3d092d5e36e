"""The neutral chat vocabulary: message models every adapter renders."""
