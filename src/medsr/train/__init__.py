"""medsr.train"""
