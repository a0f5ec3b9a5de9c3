"""medsr.cli"""
