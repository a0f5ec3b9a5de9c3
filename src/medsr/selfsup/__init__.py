"""medsr.selfsup"""
